/**
 * Benchmark reports: one value, written twice — `report.md` for people (tables) and `report.json`
 * for machines (the same tables plus any raw data, e.g. every sample). Kept generic so the kernel
 * microbenchmarks, the ORT peer and `ditto bench` share one writer.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DittoError } from '../core/errors.ts';

export type Cell = string | number | null;

export interface Table {
  columns: string[];
  rows: Cell[][];
}

export interface Section {
  title: string;
  /** Markdown paragraph(s) under the title. */
  text?: string;
  table?: Table;
  /** A file next to the report (e.g. an SVG plot), linked from the markdown. */
  image?: { file: string; alt: string };
}

export interface Report {
  title: string;
  /** Facts about the run: adapter, machine, date, command, versions. Shown as a list. */
  meta: Record<string, string | number>;
  sections: Section[];
  /** Anything else for machines (raw samples, configs); only in report.json. */
  data?: unknown;
}

/** Numbers with about 3–4 significant digits; null and NaN print as an em dash. */
export function formatCell(c: Cell): string {
  if (c === null) return '—';
  if (typeof c === 'string') return c;
  if (!Number.isFinite(c)) return Number.isNaN(c) ? '—' : c > 0 ? '∞' : '−∞';
  if (Number.isInteger(c) && Math.abs(c) < 1e7) return String(c);
  const a = Math.abs(c);
  if (a >= 100) return c.toFixed(0);
  if (a >= 10) return c.toFixed(1);
  if (a >= 1) return c.toFixed(2);
  if (a >= 0.01) return c.toFixed(3);
  return c.toExponential(2);
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderTable(t: Table): string {
  for (const [i, r] of t.rows.entries()) {
    if (r.length !== t.columns.length) {
      throw new DittoError('E_INTERNAL', `report table row ${i} has ${r.length} cells for ${t.columns.length} columns`);
    }
  }
  const head = `| ${t.columns.map(escapeCell).join(' | ')} |`;
  const rule = `| ${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`;
  const body = t.rows.map((r) => `| ${r.map((c) => escapeCell(formatCell(c))).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}

export function renderMarkdown(r: Report): string {
  const out: string[] = [`# ${r.title}`, ''];
  for (const [k, v] of Object.entries(r.meta)) out.push(`- **${k}**: ${typeof v === 'number' ? formatCell(v) : v}`);
  for (const s of r.sections) {
    out.push('', `## ${s.title}`, '');
    if (s.text) out.push(s.text, '');
    if (s.table) out.push(renderTable(s.table), '');
    if (s.image) out.push(`![${s.image.alt}](${s.image.file})`, '');
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}

/** JSON that survives NaN/±Infinity (JSON has none): they become null, "Infinity", "-Infinity". */
export function reportJson(r: Report): string {
  return JSON.stringify(r, (_k, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? null : v > 0 ? 'Infinity' : '-Infinity';
    return v;
  }, 2) + '\n';
}

/**
 * Writes `<dir>/<base>.md` and `<dir>/<base>.json` (base defaults to `report`) and returns their
 * paths. Extra files (plots) are written by the caller next to them.
 */
export function writeReport(dir: string, r: Report, base = 'report'): { md: string; json: string } {
  const md = join(dir, `${base}.md`);
  const json = join(dir, `${base}.json`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(md, renderMarkdown(r));
    writeFileSync(json, reportJson(r));
  } catch (e) {
    throw new DittoError('E_IO', `cannot write the benchmark report to ${dir}: ${(e as Error).message}`);
  }
  return { md, json };
}
