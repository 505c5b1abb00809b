/**
 * `--schedules a,b,c`: a comma-separated list of schedule specs. A spec may itself hold commas
 * inside its parameter list (`fora(N=2,k=1)`), so the list splits only at commas outside
 * parentheses.
 */
import { DittoError } from '../../core/errors.ts';

export function splitScheduleList(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') {
      depth--;
      if (depth < 0) throw new DittoError('E_USAGE', `--schedules: unbalanced ')' in '${text}'`);
    }
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (depth !== 0) throw new DittoError('E_USAGE', `--schedules: unbalanced '(' in '${text}'`);
  out.push(cur.trim());
  const empty = out.findIndex((s) => s === '');
  if (text.trim() === '') throw new DittoError('E_USAGE', '--schedules: give at least one schedule (e.g. fora(N=2),ebcache_table)');
  if (empty >= 0) throw new DittoError('E_USAGE', `--schedules: entry ${empty + 1} of '${text}' is empty`);
  const seen = new Set<string>();
  for (const s of out) {
    if (seen.has(s)) throw new DittoError('E_USAGE', `--schedules: '${s}' is listed twice`);
    seen.add(s);
  }
  return out;
}
