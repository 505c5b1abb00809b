/**
 * Speed against fidelity, as a hand-written SVG scatter plot: one named point per schedule, x =
 * wall-clock speed-up over the all-compute baseline, y = fidelity against the baseline (e.g. PSNR
 * in dB). Higher and further right is better. No dependencies; the output is plain, well-formed XML.
 *
 * A fidelity of +∞ (the baseline against itself, or a schedule that changes nothing) cannot sit on
 * a linear axis: such points go on a separate row above the plot area labelled "∞".
 */
import { DittoError } from '../core/errors.ts';

export interface PlotPoint {
  name: string;
  x: number;
  y: number;
}

export interface ScatterOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}

/** Escapes text for XML content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** About `count` round tick values (1, 2, 5 × 10^k steps) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.1 || 1;
    return niceTicks(lo - pad, lo + pad, count);
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  let start = Math.floor(lo / step) * step;
  if (start > lo) start -= step; // lo / step can underflow to −0 for subnormal lo
  for (let v = start; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  // Rounding to 12 digits can move an end tick just inside the range: extend by a step.
  while (ticks[0]! > lo) ticks.unshift(ticks[0]! - step);
  while (ticks[ticks.length - 1]! < hi) ticks.push(ticks[ticks.length - 1]! + step);
  return ticks;
}

function fmt(v: number): string {
  return Number(v.toPrecision(4)).toString();
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function scatterSvg(points: readonly PlotPoint[], o: ScatterOptions): string {
  if (points.length === 0) throw new DittoError('E_INTERNAL', 'scatterSvg: no points to plot');
  for (const p of points) {
    if (!Number.isFinite(p.x)) throw new DittoError('E_INTERNAL', `scatterSvg: point '${p.name}' has x = ${p.x}`);
    if (Number.isNaN(p.y) || p.y === -Infinity) throw new DittoError('E_INTERNAL', `scatterSvg: point '${p.name}' has y = ${p.y}`);
  }
  const W = o.width ?? 720;
  const H = o.height ?? 480;
  const m = { left: 70, right: 150, top: 50, bottom: 60 };
  const hasInf = points.some((p) => p.y === Infinity);
  const infRow = hasInf ? 30 : 0;
  const plotTop = m.top + infRow;
  const pw = W - m.left - m.right;
  const ph = H - plotTop - m.bottom;

  const xs = points.map((p) => p.x);
  const finiteY = points.filter((p) => Number.isFinite(p.y)).map((p) => p.y);
  const xt = niceTicks(Math.min(...xs, 1), Math.max(...xs, 1));
  const yt = finiteY.length ? niceTicks(Math.min(...finiteY), Math.max(...finiteY)) : [0, 1];
  const [x0, x1] = [xt[0]!, xt[xt.length - 1]!];
  const [y0, y1] = [yt[0]!, yt[yt.length - 1]!];
  const sx = (v: number) => m.left + ((v - x0) / (x1 - x0)) * pw;
  const sy = (v: number) => (v === Infinity ? m.top + infRow / 2 : plotTop + ph - ((v - y0) / (y1 - y0)) * ph);

  const el: string[] = [];
  el.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  el.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${xmlEscape(o.title)}</text>`);
  // Grid and ticks.
  for (const v of xt) {
    const x = sx(v).toFixed(1);
    el.push(`<line x1="${x}" y1="${plotTop}" x2="${x}" y2="${plotTop + ph}" stroke="#e5e5e5"/>`);
    el.push(`<text x="${x}" y="${plotTop + ph + 18}" text-anchor="middle" font-size="11">${fmt(v)}</text>`);
  }
  for (const v of yt) {
    const y = sy(v).toFixed(1);
    el.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    el.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${fmt(v)}</text>`);
  }
  if (hasInf) {
    el.push(`<text x="${m.left - 8}" y="${sy(Infinity)}" text-anchor="end" dominant-baseline="middle" font-size="11">∞</text>`);
    el.push(`<line x1="${m.left}" y1="${plotTop}" x2="${m.left + pw}" y2="${plotTop}" stroke="#999" stroke-dasharray="4 3"/>`);
  }
  // Speed-up 1 (the baseline's speed) as a reference line when it is inside the range.
  if (x0 <= 1 && 1 <= x1) {
    el.push(`<line x1="${sx(1).toFixed(1)}" y1="${m.top}" x2="${sx(1).toFixed(1)}" y2="${plotTop + ph}" stroke="#999" stroke-dasharray="2 3"/>`);
  }
  // Axes and their labels.
  el.push(`<line x1="${m.left}" y1="${plotTop + ph}" x2="${m.left + pw}" y2="${plotTop + ph}" stroke="black"/>`);
  el.push(`<line x1="${m.left}" y1="${plotTop}" x2="${m.left}" y2="${plotTop + ph}" stroke="black"/>`);
  el.push(`<text x="${m.left + pw / 2}" y="${H - 16}" text-anchor="middle" font-size="13">${xmlEscape(o.xLabel)}</text>`);
  el.push(`<text x="18" y="${plotTop + ph / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${plotTop + ph / 2})">${xmlEscape(o.yLabel)}</text>`);
  // Points with their names.
  points.forEach((p, i) => {
    const cx = sx(p.x).toFixed(1);
    const cy = sy(p.y).toFixed(1);
    const color = COLORS[i % COLORS.length]!;
    const yText = p.y === Infinity ? '∞' : fmt(p.y);
    el.push(`<g class="point"><title>${xmlEscape(`${p.name}: ${fmt(p.x)}×, ${yText}`)}</title>` +
      `<circle cx="${cx}" cy="${cy}" r="5" fill="${color}" stroke="black" stroke-width="0.5"/>` +
      `<text x="${(Number(cx) + 8).toFixed(1)}" y="${cy}" dominant-baseline="middle" font-size="12">${xmlEscape(p.name)}</text></g>`);
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    ...el.map((e) => `  ${e}`),
    '</svg>',
    '',
  ].join('\n');
}
