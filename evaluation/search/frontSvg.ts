/**
 * The picture of a search: every evaluated candidate (grey), the Pareto front (blue line), the
 * budget (dashed), the finalists (orange, with their realised speed-up as an open ring where it was
 * measured) and the chosen schedule (red). x: predicted speed-up on a log scale, so that the
 * near-empty candidates an evolutionary search also prices (15–20×) do not squeeze the front around
 * the budget into a corner; y: fidelity loss on a log scale (down is closer to the no-cache images).
 */
export interface FrontPoint {
  speedup: number;
  loss: number;
}

export interface FrontPicture {
  title: string;
  all: readonly FrontPoint[];
  front: readonly FrontPoint[];
  finalists: readonly (FrontPoint & { realised: number | null; label: string })[];
  chosen: (FrontPoint & { label: string }) | null;
  budgetSpeedup: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Readable speed-up ticks (1, 1.5, 2, 3, 4, 6, 8, 12, …) inside [lo, hi], for a log axis. */
export function speedupTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let decade = 0.1; decade <= hi; decade *= 10) {
    for (const m of [1, 1.5, 2, 3, 4, 6, 8]) {
      const v = Number((m * decade).toPrecision(2));
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks;
}

export function frontSvg(p: FrontPicture): string {
  const W = 720;
  const H = 440;
  const L = 70;
  const R = 20;
  const T = 40;
  const B = 50;
  const pts = [...p.all, ...p.finalists, ...(p.chosen ? [p.chosen] : [])];
  const floor = 1e-6;
  const ly = (l: number) => Math.log10(Math.max(floor, l));
  const xs = [...pts.map((q) => q.speedup), ...p.finalists.flatMap((f) => (f.realised ? [f.realised] : [])), p.budgetSpeedup, 1];
  const x0 = Math.log(Math.min(...xs) * 0.95);
  const x1 = Math.log(Math.max(...xs) * 1.05);
  const ys = pts.map((q) => ly(q.loss));
  const y0 = Math.floor(Math.min(...ys, -3));
  const y1 = Math.ceil(Math.max(...ys, 0));
  const X = (v: number) => L + ((Math.log(v) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const Y = (l: number) => T + ((y1 - ly(l)) / (y1 - y0 || 1)) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="22" font-size="14">${esc(p.title)}</text>`);
  out.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  for (let e = y0; e <= y1; e++) {
    const y = T + ((y1 - e) / (y1 - y0 || 1)) * (H - T - B);
    out.push(`<line x1="${L - 4}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#eee"/><text x="${L - 8}" y="${y + 4}" text-anchor="end">1e${e}</text>`);
  }
  for (const v of speedupTicks(Math.exp(x0), Math.exp(x1))) {
    out.push(`<line x1="${X(v)}" y1="${T}" x2="${X(v)}" y2="${H - B + 4}" stroke="#eee"/><text x="${X(v)}" y="${H - B + 16}" text-anchor="middle">${v}×</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">speed-up (predicted from measured kernel times)</text>`);
  out.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">fidelity loss vs no cache (log; lower is closer)</text>`);
  out.push(`<line x1="${X(p.budgetSpeedup)}" y1="${T}" x2="${X(p.budgetSpeedup)}" y2="${H - B}" stroke="#888" stroke-dasharray="5 4"/>`);
  out.push(`<text x="${X(p.budgetSpeedup) + 4}" y="${T + 12}" fill="#555">budget ${p.budgetSpeedup.toFixed(2)}×</text>`);
  for (const q of p.all) out.push(`<circle cx="${X(q.speedup).toFixed(1)}" cy="${Y(q.loss).toFixed(1)}" r="2.5" fill="#bbb"/>`);
  if (p.front.length) {
    out.push(`<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="${p.front.map((q) => `${X(q.speedup).toFixed(1)},${Y(q.loss).toFixed(1)}`).join(' ')}"/>`);
    for (const q of p.front) out.push(`<circle cx="${X(q.speedup).toFixed(1)}" cy="${Y(q.loss).toFixed(1)}" r="3.5" fill="#1f5fbf"/>`);
  }
  for (const f of p.finalists) {
    out.push(`<circle cx="${X(f.speedup).toFixed(1)}" cy="${Y(f.loss).toFixed(1)}" r="5" fill="#f08c00"/>`);
    if (f.realised) {
      out.push(`<line x1="${X(f.speedup).toFixed(1)}" y1="${Y(f.loss).toFixed(1)}" x2="${X(f.realised).toFixed(1)}" y2="${Y(f.loss).toFixed(1)}" stroke="#f08c00"/>`);
      out.push(`<circle cx="${X(f.realised).toFixed(1)}" cy="${Y(f.loss).toFixed(1)}" r="5" fill="none" stroke="#f08c00" stroke-width="1.5"/>`);
    }
  }
  if (p.chosen) {
    out.push(`<circle cx="${X(p.chosen.speedup).toFixed(1)}" cy="${Y(p.chosen.loss).toFixed(1)}" r="6" fill="#d62828"/>`);
    out.push(`<text x="${X(p.chosen.speedup) + 9}" y="${Y(p.chosen.loss) - 8}" fill="#d62828">${esc(p.chosen.label)}</text>`);
  }
  const ly0 = H - B - 70;
  const legend: [string, string][] = [['#bbb', 'evaluated'], ['#1f5fbf', 'Pareto front'], ['#f08c00', 'finalist (ring: measured speed-up)'], ['#d62828', 'chosen']];
  legend.forEach(([c, t], i) => out.push(`<circle cx="${W - 250}" cy="${ly0 + 16 * i}" r="4" fill="${c}"/><text x="${W - 240}" y="${ly0 + 16 * i + 4}">${esc(t)}</text>`));
  out.push('</svg>');
  return out.join('\n') + '\n';
}
