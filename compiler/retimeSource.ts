/**
 * `retime` from source: the schedule resolved against a model file at its own step count, mapped to
 * N steps (compiler/schedule/retime.ts), its text, and the predicted cost at both step counts. The
 * CLI verb and the Node API (index.ts `retime`) call this.
 */
import path from 'node:path';
import { PACKAGE_ROOT } from '../core/packageRoot.ts';
import { findSchedule, loadProgram, resolveFound, resolveSchedule } from './frontend.ts';
import { openModel, planFor } from './compileSource.ts';
import { retimeSchedule, scheduleText } from './schedule/retime.ts';
import { declaredSampler } from './schedule/sampler.ts';
import { DEFAULT_SAMPLER, type SamplerKind } from './passes/options.ts';
import type { ScheduleIR } from './ir/schedule.ts';
import { DittoError } from '../core/errors.ts';

export const DEFAULT_RETIME_MODEL_FILE = path.join(PACKAGE_ROOT, 'models', 'fmnist.ditto');
export const DEFAULT_RETIME_MODEL = 'DiT-FMNIST';

export interface RetimeOptions {
  steps: number;
  /** The model the speed-up is predicted for (default models/fmnist.ditto, DiT-FMNIST). */
  modelFile?: string;
  model?: string;
  /** Sampler of the predicted plans; default: the one the schedule declares (`sampler ddim`), else
   *  ddpm. Another than the declared one is refused, as when compiling. */
  sampler?: SamplerKind;
  cfgScale?: number;
  /** Where the text will be written (its `use` is made relative to it); default: the working directory. */
  outputFile?: string;
  /** Lines of the comment above the written schedule. */
  comment?: readonly string[];
}

export interface RetimeResult {
  /** The model (variant) the speed-ups are predicted for. */
  model: string;
  source: ScheduleIR;
  retimed: ScheduleIR;
  /** The retimed schedule as a .ditto file, named `<name>_<N>`. */
  name: string;
  text: string;
  before: { steps: number; flopsRatio: number; predictedSpeedup: number };
  after: { steps: number; flopsRatio: number; predictedSpeedup: number };
}

export function retimeSource(spec: string, o: RetimeOptions): RetimeResult {
  const file = o.modelFile ?? DEFAULT_RETIME_MODEL_FILE;
  const model = o.model ?? (path.resolve(file) === DEFAULT_RETIME_MODEL_FILE ? DEFAULT_RETIME_MODEL : undefined);
  const m = openModel(file, { model, batch: 1, cfg: o.cfgScale !== undefined });
  // The written schedule keeps the source's `sampler` statement: retiming does not change what it was made for.
  const found = findSchedule(m.program, spec);
  const declared = declaredSampler(found.loc.decl);
  const sampler = o.sampler ?? declared ?? DEFAULT_SAMPLER;
  const source = resolveFound(found, m.graph, { sampler });
  const retimed = retimeSchedule(source, o.steps);
  const cost = (s: ScheduleIR) => {
    const c = planFor(m, s, { steps: s.steps, sampler, ...(o.cfgScale !== undefined ? { cfgScale: o.cfgScale } : {}) }).plan.cost;
    return { steps: s.steps, flopsRatio: c.flopsRatio, predictedSpeedup: c.predictedSpeedup };
  };
  const name = `${source.name}_${o.steps}`;
  const where = path.dirname(path.resolve(o.outputFile ?? 'retimed.ditto'));
  const use = path.relative(where, path.resolve(file)).split(path.sep).join('/');
  const text = scheduleText(retimed, { name, use, comment: o.comment ?? [`${spec} (${source.steps} steps) retimed to ${o.steps} steps`], ...(declared ? { sampler: declared } : {}) });
  // The text must say exactly what was retimed: resolve it and compare.
  const textPath = path.join(where, `${name}.ditto`);
  const back = resolveSchedule(loadProgram(textPath, { inline: new Map([[textPath, text]]) }), name, m.graph, { sampler });
  if (JSON.stringify([back.table, back.epsScale, back.dynamic]) !== JSON.stringify([retimed.table, retimed.epsScale, retimed.dynamic])) {
    throw new DittoError('E_INTERNAL', 'the retimed schedule text resolves to another table than the retimed one');
  }
  return { model: model ?? m.graph.model, source, retimed, name, text, before: cost(source), after: cost(retimed) };
}
