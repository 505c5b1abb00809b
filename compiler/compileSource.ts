/**
 * The one way from source to plans: load a program (a file, or text), lower the chosen model for
 * the sampling batch (2·batch under CFG), resolve schedules for a step count, compile. The CLI
 * verbs, the Node API, eval, calibrate, bench and the playground all call these functions; none
 * writes the recipe again.
 *
 * Loading checks the declarations only: the model is checked as it is lowered and each schedule as
 * it is resolved, once, with the step count and parameters it is compiled with (`ditto check`
 * checks a whole program).
 */
import { DittoError, isDittoError } from '../core/errors.ts';
import { loadProgram, lowerModel, resolveSchedule, type Program } from './frontend.ts';
import type { Graph } from './ir/graph.ts';
import type { ScheduleIR } from './ir/schedule.ts';
import type { CompileCaps } from './plan/caps.ts';
import { DEFAULT_SAMPLER, type CompileOptionsInput, type SamplerKind } from './passes/options.ts';
import { compile, type CompileResult } from './pipeline.ts';

/** A .ditto file, source text read as if it were the file `path`, or a program already loaded. */
export type SourceInput = string | { readonly text: string; readonly path: string } | Program;

export interface ModelChoice {
  /** Model or variant name; default: the program's only model. */
  readonly model?: string | undefined;
  /** Model parameter overrides. */
  readonly set?: Readonly<Record<string, number>> | undefined;
  /** Images per run. */
  readonly batch: number;
  /** Classifier-free guidance: the model batch is [cond; uncond], 2·batch. */
  readonly cfg: boolean;
}

/** A program with its model lowered for sampling: what schedules resolve against and plans compile from. */
export interface SourceModel {
  readonly program: Program;
  readonly graph: Graph;
  readonly batch: number;
  readonly cfg: boolean;
}

/** Everything a plan needs besides the graph and the schedule (the batch comes from the model). */
export type PlanOptions = Omit<CompileOptionsInput, 'batch'>;

export function loadSource(input: SourceInput): Program {
  if (typeof input === 'string') return loadProgram(input, { check: 'declarations' });
  if ('text' in input) return loadProgram(input.path, { inline: new Map([[input.path, input.text]]), check: 'declarations' });
  return input;
}

export function openModel(input: SourceInput, choice: ModelChoice): SourceModel {
  const program = loadSource(input);
  const graph = lowerModel(program, {
    batch: choice.cfg ? 2 * choice.batch : choice.batch,
    ...(choice.model !== undefined ? { model: choice.model } : {}),
    ...(choice.set ? { set: { ...choice.set } } : {}),
  });
  return { program, graph, batch: choice.batch, cfg: choice.cfg };
}

/**
 * Resolves `spec` (a schedule of the program, of the library, or a file; with parameters) for
 * `steps`. With `flag`, an error names the list entry it came from (`--schedules 'x' at 20 steps:
 * …`) and says when a table's fixed length is the problem. `program` resolves against another
 * program than the model's (a schedule text that `use`s the model file). `sampler`: the sampler the
 * schedule will be sampled with — every caller that knows it passes it, so that a schedule made
 * for another sampler (`sampler ddim`) is refused before anything runs.
 */
export function scheduleFor(m: SourceModel, spec: string, steps: number, opts: { flag?: string; program?: Program; sampler?: SamplerKind } = {}): ScheduleIR {
  try {
    return resolveSchedule(opts.program ?? m.program, spec, m.graph, { steps, ...(opts.sampler ? { sampler: opts.sampler } : {}) });
  } catch (e) {
    if (!opts.flag || !isDittoError(e)) throw e;
    const hint = e.code === 'E_TABLE' && /entries/.test(e.message) ? ' — this schedule is written for a fixed number of steps; rerun with --steps equal to the table length, or drop it from --schedules' : '';
    throw new DittoError(e.code, `${opts.flag} '${spec}' at ${steps} steps: ${e.message}${hint}`, e.span, e.detail);
  }
}

/** The plan of a model and a schedule (none: every node computes at every step). */
export function planFor(m: SourceModel, schedule: ScheduleIR | undefined, opts: PlanOptions): CompileResult {
  if (m.cfg !== (opts.cfgScale !== undefined)) {
    throw new DittoError('E_INTERNAL', `the model was lowered ${m.cfg ? 'with' : 'without'} CFG but the plan is compiled ${opts.cfgScale !== undefined ? 'with' : 'without'} a guidance scale`);
  }
  return compile(m.graph, schedule, { ...opts, batch: m.batch });
}

export interface CompileSourceRequest extends Omit<ModelChoice, 'cfg' | 'batch'>, Omit<PlanOptions, 'caps'> {
  /** Images per run (default 1). */
  readonly batch?: number;
  /** A schedule of the program, of the shipped library (`fora(N=2)`) or a .ditto path; default: none. */
  readonly schedule?: string | undefined;
  /**
   * The kernel-selection profile, or how to find it (asking an adapter takes a while): called
   * after the source is checked, so bad source fails before any device is opened.
   */
  readonly caps: CompileCaps | (() => Promise<CompileCaps>);
}

export interface CompiledSource extends CompileResult {
  readonly model: SourceModel;
  readonly schedule?: ScheduleIR;
}

/** Source → plan in one call: `ditto compile`, the Node API's `compile`. */
export async function compileSource(input: SourceInput, req: CompileSourceRequest): Promise<CompiledSource> {
  const { model, set, batch, schedule: spec, caps, ...plan } = req;
  const m = openModel(input, { model, set, batch: batch ?? 1, cfg: req.cfgScale !== undefined });
  const schedule = spec !== undefined ? scheduleFor(m, spec, req.steps, { sampler: req.sampler ?? DEFAULT_SAMPLER }) : undefined;
  const profile = typeof caps === 'function' ? await caps() : caps;
  return { ...planFor(m, schedule, { ...plan, caps: profile }), model: m, ...(schedule ? { schedule } : {}) };
}
