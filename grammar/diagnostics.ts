/**
 * Diagnostics: what the front end reports instead of throwing. Each has a severity, a code, a
 * message, a span when the problem has a place, and optionally what was expected and a
 * suggestion. `renderDiagnostics` formats them as
 *
 *   models/dit.ditto:12:7: error: unknown operator `lineer`
 *      12 |   h = lineer(x)
 *         |       ^^^^^^
 *      = expected: an operator (patch_embed, linear, …)
 *      = help: did you mean `linear`?
 */
import type { ErrorCode, SourceSpan } from '../core/errors.ts';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  readonly severity: Severity;
  readonly code: ErrorCode;
  readonly message: string;
  readonly span?: SourceSpan;
  readonly expected?: string;
  readonly suggestion?: string;
  readonly notes?: readonly string[];
}

/** Collects diagnostics; the checker and the lowering report into one. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  error(message: string, span?: SourceSpan, extra: Partial<Pick<Diagnostic, 'expected' | 'suggestion' | 'notes' | 'code'>> = {}): void {
    // The same problem found twice (a rule evaluated at every step) is reported once.
    if (this.items.some((d) => d.message === message && d.span?.start === span?.start && d.span?.file === span?.file)) return;
    this.items.push({ severity: 'error', code: extra.code ?? 'E_CHECK', message, ...(span ? { span } : {}), ...extra });
  }

  warning(message: string, span?: SourceSpan, extra: Partial<Pick<Diagnostic, 'expected' | 'suggestion' | 'notes'>> = {}): void {
    if (this.items.some((d) => d.message === message && d.span?.start === span?.start && d.span?.file === span?.file)) return;
    this.items.push({ severity: 'warning', code: 'E_CHECK', message, ...(span ? { span } : {}), ...extra });
  }

  add(d: Diagnostic): void {
    this.items.push(d);
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === 'error').length;
  }

  get hasErrors(): boolean {
    return this.errorCount > 0;
  }
}

/** Levenshtein distance (insert, delete, substitute; adjacent swap counts 1). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[m]![n]!;
}

/** The closest candidate within a distance that scales with the word's length, if any. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const limit = Math.max(1, Math.floor(word.length / 3));
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD && dist <= limit && c !== word) {
      best = c;
      bestD = dist;
    }
  }
  return best;
}

/** "did you mean `x`?" for the closest candidate, or undefined. */
export function didYouMean(word: string, candidates: Iterable<string>, render: (c: string) => string = (c) => c): string | undefined {
  const c = closest(word, candidates);
  return c === undefined ? undefined : `did you mean \`${render(c)}\`?`;
}

/** Lists up to `max` items as "a, b, c, … (n more)". */
export function listSome(items: readonly string[], max = 12): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')}, … (${items.length - max} more)`;
}

export type SourceLookup = (file: string) => string | undefined;

/** Shown around the caret when a source line is longer than this (minified or generated text). */
const MAX_LINE_SHOWN = 160;

/** `source`, memoised per file and split into lines once: rendering thousands of diagnostics stays linear. */
function lineLookup(source: SourceLookup): (file: string) => string[] | undefined {
  const cache = new Map<string, string[] | undefined>();
  return (file) => {
    if (!cache.has(file)) cache.set(file, source(file)?.split('\n'));
    return cache.get(file);
  };
}

/** Control characters (tab and newline excepted), which must never reach the terminal raw. */
export const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `linesOf`: a memoised line lookup shared across diagnostics (renderDiagnostics passes one). */
export function renderDiagnostic(d: Diagnostic, source: SourceLookup, linesOf: (file: string) => string[] | undefined = lineLookup(source)): string {
  const lines: string[] = [];
  const where = d.span ? `${d.span.file}:${d.span.line}:${d.span.column}: ` : '';
  lines.push(`${where}${d.severity}: ${d.message}`);
  const srcLines = d.span ? linesOf(d.span.file) : undefined;
  if (d.span && srcLines !== undefined) {
    // Control characters print as · (one column each, so the caret stays aligned).
    let lineText = (srcLines[d.span.line - 1] ?? '').replace(/\r$/, '').replace(CONTROL_CHARS, '·');
    let column = d.span.column;
    const num = String(d.span.line);
    const pad = ' '.repeat(num.length);
    // The caret covers the span on its first line (at least one column).
    const lineStart = d.span.start - (d.span.column - 1);
    const firstLineEnd = lineStart + lineText.length;
    let width = Math.max(1, Math.min(d.span.end, firstLineEnd) - d.span.start);
    if (lineText.length > MAX_LINE_SHOWN) {
      // A window of the line around the caret, marked with … where it was cut.
      const from = Math.max(0, column - 1 - 60);
      const to = Math.min(lineText.length, from + MAX_LINE_SHOWN);
      const head = from > 0 ? '…' : '';
      lineText = head + lineText.slice(from, to) + (to < lineText.length ? '…' : '');
      column = column - from + head.length;
      width = Math.min(width, to - (d.span.column - 1));
    }
    const indent = lineText.slice(0, column - 1).replace(/[^\t]/g, ' ');
    lines.push(`  ${num} | ${lineText}`);
    lines.push(`  ${pad} | ${indent}${'^'.repeat(Math.max(1, width))}`);
  }
  if (d.expected) lines.push(`  = expected: ${d.expected}`);
  if (d.suggestion) lines.push(`  = help: ${d.suggestion}`);
  for (const n of d.notes ?? []) lines.push(`  = note: ${n}`);
  return lines.join('\n');
}

/** More diagnostics than this are counted, not printed: past the first screenful they are follow-on noise. */
export const MAX_DIAGNOSTICS_SHOWN = 50;

/** All diagnostics, errors and warnings in source order per file, and a summary line. */
export function renderDiagnostics(ds: readonly Diagnostic[], source: SourceLookup): string {
  const sorted = [...ds].sort((a, b) => {
    const fa = a.span?.file ?? '';
    const fb = b.span?.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    return (a.span?.start ?? 0) - (b.span?.start ?? 0);
  });
  const errors = ds.filter((d) => d.severity === 'error').length;
  const warnings = ds.length - errors;
  const summary = `${errors} error${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`;
  const lines = lineLookup(source);
  const shown = sorted.slice(0, MAX_DIAGNOSTICS_SHOWN).map((d) => renderDiagnostic(d, source, lines));
  const hidden = sorted.length - shown.length;
  if (hidden > 0) shown.push(`… and ${hidden} more not shown (the first ${MAX_DIAGNOSTICS_SHOWN} are above)`);
  return [...shown, summary].join('\n\n') + '\n';
}
