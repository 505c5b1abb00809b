/** Shared bits of the grammar tests. */
import { readdirSync } from 'node:fs';

/** The AST without spans and file names, for comparing parses of different texts. */
export function stripSpans(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x, (k, v) => (k === 'span' || k === 'file' ? undefined : v)));
}

/** Every .ditto file the project ships. */
export const SHIPPED = ['models/dit.ditto', ...readdirSync('models/schedules').filter((f) => f.endsWith('.ditto')).map((f) => `models/schedules/${f}`)];
