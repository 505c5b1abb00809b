/**
 * The .ditto text a calibration emits: a schedule that `use`s the model file and reads the
 * calibrated table in count-down order, and the small probe schedule whose compiled plan gives
 * the cost of each state.
 */
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import type { SamplerKind } from '../../compiler/passes/options.ts';

export interface ScheduleTextOptions {
  /** Schedule name (an identifier). */
  name: string;
  /** The base model the schedule is `for` (graph.model). */
  model: string;
  /** The repetition the table drives (`blocks`). */
  group: string;
  steps: number;
  /** The sampler the table was calibrated under, written as `sampler X`: the greedy trajectory and
   *  the scores are that sampler's, so compiling the table for another is refused. */
  sampler: SamplerKind;
  /** The `use` path, relative to the schedule file. */
  use: string;
  /** The table file, relative to the schedule file. */
  table: string;
  /** The `eps_scale` expression as the user wrote it, if any. */
  epsScale?: string;
  /** Comment lines for the header (the provenance of the table). */
  header: readonly string[];
}

/** A path as written in a .ditto string literal: forward slashes, no quote characters. */
export function dittoPath(fromFile: string, target: string): string {
  const rel = path.relative(path.dirname(path.resolve(fromFile)), path.resolve(target)).split(path.sep).join('/');
  const written = rel.startsWith('.') ? rel : `./${rel}`;
  if (/["\\\n]/.test(written)) throw new DittoError('E_USAGE', `the path '${target}' cannot be written in a .ditto string (it holds a quote, backslash or newline)`);
  return written;
}

/** A schedule name from the output file name: `out/my-table.ditto` → `my_table`. */
export function scheduleNameFor(outFile: string): string {
  const base = path.basename(outFile).replace(/\.ditto$/i, '').replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(base) ? base : `calibrated_${base}`;
}

function scheduleBody(o: Omit<ScheduleTextOptions, 'header' | 'use'>, table: boolean): string {
  const lines = [`schedule ${o.name} for ${o.model} {`, `  steps ${o.steps}`, `  sampler ${o.sampler}`];
  if (table) lines.push(`  table "${o.table}" order countdown map(attn = ${o.group}[*].attn, mlp = ${o.group}[*].mlp)`);
  if (o.epsScale !== undefined) lines.push(`  eps_scale ${o.epsScale}`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** The emitted file. */
export function calibratedScheduleText(o: ScheduleTextOptions): string {
  return [...o.header.map((h) => `// ${h}`), `use "${o.use}"`, '', scheduleBody(o, true)].join('\n');
}

/** Name of the cost probe schedule in the pre-flight source. */
export function probeName(name: string): string {
  return `${name}__cost_probe`;
}

/**
 * The pre-flight source, checked before the (slow) calibration runs: the schedule as it will be
 * emitted but without its table (so the eps_scale, the name and the `use` are proven early), and
 * a 4-step probe whose steps are the states 0, 1, 2, 3 in order (attention reused at k = 1, 2; MLP
 * at k = 2, 3), compiled once to read the FLOPs of each state.
 */
export function preflightText(o: Omit<ScheduleTextOptions, 'header' | 'table'>): string {
  const probe = [
    `schedule ${probeName(o.name)} for ${o.model} {`,
    '  steps 4',
    `  ${o.group}[*].attn reuse at steps 1..3`,
    `  ${o.group}[*].mlp reuse at steps 2..4`,
    '}',
  ].join('\n');
  return [`use "${o.use}"`, '', scheduleBody({ ...o, table: '' }, false), probe, ''].join('\n');
}
