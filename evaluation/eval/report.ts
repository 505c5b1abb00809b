/**
 * An evaluation as a table (aligned text for the terminal, Markdown for docs), as JSON, and as files
 * in an output folder: one PNG grid per schedule, table.md and eval.json.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../core/files.ts';
import { tensor } from '../../core/tensor.ts';
import { encodeGridPng } from '../../runtime/image.ts';
import type { EvalReport, EvalRow } from './types.ts';

/** Images shown per grid: 10 rows of one column per class keep a 2k-sample eval's PNG small. */
export const GRID_MAX_IMAGES = 100;

const PLAIN_HEADERS = ['schedule', 'FID', 'accuracy', 'PSNR (dB)', 'SSIM', 'speed-up', 'predicted', 's/image'];
/** With a bootstrap: FID carries its standard error and a ΔFID interval column follows it. */
const BOOT_HEADERS = ['schedule', 'FID ± se', 'ΔFID 95%', ...PLAIN_HEADERS.slice(2)];

const num = (x: number | null, digits: number) => (x === null ? '—' : x.toFixed(digits));
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;

/** `[+1.20, +4.50]`, with `*` where the interval excludes 0 (a difference this many samples resolve). */
export function deltaCell(d: { lo: number; hi: number } | null): string {
  if (d === null) return '—';
  return `[${signed(d.lo)}, ${signed(d.hi)}]${d.lo > 0 || d.hi < 0 ? '*' : ''}`;
}

function cells(r: EvalRow, samples: number, boot: boolean): string[] {
  const fid = boot ? [r.fid === null ? '—' : `${r.fid.toFixed(2)} ± ${num(r.fidSd, 2)}`, deltaCell(r.fidDelta)] : [num(r.fid, 2)];
  return [
    r.name,
    ...fid,
    r.accuracy === null ? '—' : `${(100 * r.accuracy).toFixed(1)}%`,
    Number.isFinite(r.psnr) ? r.psnr.toFixed(2) : '∞',
    num(r.ssim, 4),
    `${r.speedup.toFixed(2)}x`,
    r.predictedSpeedup === null ? '—' : `${r.predictedSpeedup.toFixed(2)}x`,
    (r.seconds / samples).toFixed(3),
  ];
}

function header(rep: EvalReport): string {
  const cfg = rep.cfgScale === null ? 'no CFG' : `CFG ${rep.cfgScale}`;
  return `${rep.model}: ${rep.samples} samples, ${rep.steps} steps ${rep.sampler.toUpperCase()}, ${cfg}, batch ${rep.batch}, seed ${rep.seed}, on ${rep.device}${rep.warmup ? ' (timed after a warm-up run of each plan)' : ''}`;
}

export function formatEvalTable(rep: EvalReport, style: 'text' | 'markdown'): string {
  const boot = rep.bootstrap !== null;
  const HEADERS = boot ? BOOT_HEADERS : PLAIN_HEADERS;
  const rows = rep.rows.map((r) => cells(r, rep.samples, boot));
  const lines: string[] = [];
  if (style === 'markdown') {
    lines.push(header(rep), '', `| ${HEADERS.join(' | ')} |`, `|${HEADERS.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
    for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
    if (rep.notes.length) lines.push('', ...rep.notes.map((n) => `- ${n}`));
  } else {
    const widths = HEADERS.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...r[i]!].length)));
    const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
    lines.push(header(rep), '', fmt(HEADERS), ...rows.map(fmt));
    if (rep.notes.length) lines.push('', ...rep.notes.map((n) => `note: ${n}`));
  }
  lines.push('', 'speed-up: wall clock of the no-cache rows / this row, same process; PSNR/SSIM: against the no-cache images from the same noise (∞: identical).');
  if (boot) lines.push(`FID ± se: standard deviation over ${rep.bootstrap} paired bootstrap resamples of the images; ΔFID 95%: interval of FID(row) − FID(no cache) on the same resamples, * where it excludes 0.`);
  return lines.join('\n') + '\n';
}

/** The report without the image data; PSNR ∞ (identical images) is written as null. */
export function evalJson(rep: EvalReport): object {
  return {
    ...rep,
    rows: rep.rows.map(({ images: _images, classes: _classes, ...r }) => ({ ...r, psnr: Number.isFinite(r.psnr) ? r.psnr : null })),
  };
}

/** A file name for a schedule spec: `fora(N=2)` → `fora_N2`, `no cache` → `no-cache`. */
export function gridFileStem(name: string): string {
  const stem = name
    .replace(/\.ditto(:|$)/, '$1')
    .replace(/[\s/\\:]+/g, '-')
    .replace(/[()=,]+/g, '_')
    .replace(/[^A-Za-z0-9._-]/g, '')
    .replace(/_+/g, '_')
    .replace(/^[._-]+|[._-]+$/g, '');
  return stem || 'schedule';
}

export interface EvalFiles {
  grids: Record<string, string>;
  table: string;
  json: string;
}

/** Writes every row's grid (first GRID_MAX_IMAGES images, one column per class) and the table and JSON. */
export function writeEvalOutputs(rep: EvalReport, dir: string): EvalFiles {
  mkdirSync(dir, { recursive: true });
  const grids: Record<string, string> = {};
  const used = new Set<string>();
  for (const r of rep.rows) {
    let stem = gridFileStem(r.name);
    for (let k = 2; used.has(stem); k++) stem = `${gridFileStem(r.name)}-${k}`;
    used.add(stem);
    const file = path.join(dir, `${stem}.png`);
    const n = Math.min(r.images.shape[0]!, GRID_MAX_IMAGES);
    const per = r.images.data.length / r.images.shape[0]!;
    const shown = tensor([n, ...r.images.shape.slice(1)], (r.images.data as Float32Array).slice(0, per * n));
    writeFileAtomic(file, encodeGridPng(shown, { columns: Math.max(1, Math.min(rep.classCount || 10, n)) }));
    grids[r.name] = file;
  }
  const table = path.join(dir, 'table.md');
  writeFileAtomic(table, formatEvalTable(rep, 'markdown'));
  const json = path.join(dir, 'eval.json');
  writeFileAtomic(json, JSON.stringify({ ...evalJson(rep), grids }, null, 2) + '\n');
  return { grids, table, json };
}
