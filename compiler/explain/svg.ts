/**
 * `ditto explain --svg`: the schedule as a heatmap, steps (columns, sampling order) × heatmap rows
 * (the schedule's targets and the model's heavy nodes), one colour per state. Runs of equal cells
 * are drawn as one rectangle, so DiT-XL/2 at 250 steps stays a small file; a step whose CFG
 * branches differ shows cond in the upper and uncond in the lower half of its cells.
 */
import type { Plan } from '../plan/types.ts';

export const STATE_COLOURS: Record<string, [string, string]> = {
  c: ['#2f5f98', 'compute'],
  r: ['#6dbf6d', 'reuse'],
  f: ['#f39c3d', 'forecast'],
  p: ['#8fc3e8', 'some tokens'],
  s: ['#a58fcf', 'reuse residual'],
  b: ['#d9738f', 'cond + bands'],
  d: ['#e4e4e4', 'dead'],
  h: ['#9a9a9a', 'hoisted'],
  y: ['#f2c94c', 'decided on the GPU'],
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function explainSvg(p: Plan): string {
  const S = p.stepBody.length;
  const rows = p.heatmap.rows;
  const cw = Math.max(3, Math.min(18, Math.floor(1200 / S)));
  const ch = rows.length > 60 ? 7 : 12;
  const left = 130;
  const top = 46;
  const width = left + S * cw + 20;
  const height = top + rows.length * ch + 70;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="${Math.min(10, ch + 1)}">`);
  out.push(`<title>${esc(`${p.model.name} · ${p.schedule.name} · ${S} steps`)}</title>`);
  out.push(`<text x="${left}" y="16" font-size="13">${esc(`${p.model.name} · schedule ${p.schedule.name} · ${S} steps · FLOPs ratio ${p.cost.flopsRatio.toFixed(3)} · predicted ${p.cost.predictedSpeedup.toFixed(2)}x`)}</text>`);
  // Step axis.
  const tick = S <= 20 ? 1 : S <= 60 ? 5 : S <= 150 ? 10 : 25;
  for (let k = 0; k < S; k += tick) out.push(`<text x="${left + k * cw}" y="${top - 6}" font-size="8">${k}</text>`);
  rows.forEach((r, i) => {
    const y = top + i * ch;
    out.push(`<text x="${left - 4}" y="${y + ch - 1}" text-anchor="end" font-size="${Math.min(9, ch)}">${esc(r.label)}</text>`);
    const cellsOf = (half: 'cond' | 'uncond') => p.heatmap[half].map((code, k) => (code ?? p.heatmap.cond[k]!)[i]!);
    const cond = cellsOf('cond');
    const unc = cellsOf('uncond');
    const split = cond.some((c, k) => c !== unc[k]);
    const runs = (cells: string[], y0: number, h: number) => {
      for (let k = 0; k < S; ) {
        let j = k;
        while (j + 1 < S && cells[j + 1] === cells[k]) j++;
        out.push(`<rect x="${left + k * cw}" y="${y0}" width="${(j - k + 1) * cw}" height="${h}" fill="${STATE_COLOURS[cells[k]!]?.[0] ?? '#000'}"/>`);
        k = j + 1;
      }
    };
    if (split) {
      runs(cond, y, ch / 2);
      runs(unc, y + ch / 2, ch / 2);
    } else runs(cond, y, ch - 1);
  });
  // Legend.
  const ly = top + rows.length * ch + 24;
  Object.entries(STATE_COLOURS).forEach(([, [colour, name]], i) => {
    out.push(`<rect x="${left + i * 100}" y="${ly}" width="12" height="12" fill="${colour}"/><text x="${left + i * 100 + 16}" y="${ly + 10}">${name}</text>`);
  });
  out.push(`<text x="${left}" y="${ly + 32}" font-size="9">sampling step →  (split cells: cond above, uncond below)</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
