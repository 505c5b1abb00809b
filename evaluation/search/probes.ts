/**
 * The probe plans the kernel times are measured on: the no-cache plan and candidates of each kind
 * the search's space holds (reuse, Taylor forecast, residual skipping, every block skipped, a
 * mutated mix), drawn from the search's own seeds at a few steps. `ditto search` calibrates on
 * them, and so does `ditto bench`, at its own model and batch: the bench's predictions then come
 * from plans other than the ones it times.
 */
import path from 'node:path';
import { isDittoError, DittoError } from '../../core/errors.ts';
import { loadSource, planFor, scheduleFor, type PlanOptions, type SourceModel } from '../../compiler/compileSource.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { uniformStream } from '../../core/random.ts';
import { dittoPath } from '../calibrate/scheduleText.ts';
import { tableTargets } from '../calibrate/trajectory.ts';
import { scheduleSource } from './emit.ts';
import { mutate, seedGenomes } from './evolve.ts';
import { allCompute, repair, type Genome } from './genome.ts';
import type { Probe } from './measure.ts';

/** Steps of the search's probe plans: enough for every kind of step (compute, reuse, forecast), short to run. */
export const PROBE_STEPS = 4;
/**
 * Steps of the bench's probe plans: a second-order Taylor forecast needs three computed steps
 * before it (every 4th step computed: steps 0, 4, 8), so its kernels appear only from 10 steps.
 */
export const BENCH_PROBE_STEPS = 10;

/** The fastest candidate the space holds: every block skipped by residual reuse after step 0. */
export function fastestGenome(blocks: number, steps: number): Genome {
  const g = allCompute(blocks, steps);
  for (const row of g.res) row.fill(true);
  return repair(g);
}

/**
 * The probes' genomes (undefined: no cache, always first), drawn from the seed: FORA every 2nd
 * step, a first-order forecast every 3rd, residual skipping of the later blocks, every block
 * skipped, a mutated mix; from 10 steps on also a second-order forecast every 4th step.
 */
export function probeGenomes(blocks: number, steps: number, seed: number): (Genome | undefined)[] {
  const rng = uniformStream(seed + 1);
  const seeds = seedGenomes(blocks, steps);
  const probes = [undefined, seeds[1], seeds[6], seeds[seeds.length - 1], fastestGenome(blocks, steps), mutate(rng, seeds[2]!, seeds[8], blocks, steps)];
  return steps >= BENCH_PROBE_STEPS ? [...probes, seeds[9]] : probes;
}

export interface CandidateContext {
  /** The schedule's name, its `for` model and repetition, its `use` path. */
  name: string;
  group: string;
  use: string;
  /** Where the text is taken to live (its `use` path is relative to it); nothing is written there. */
  file: string;
  epsScales: readonly string[];
}

/** The schedule IR of a genome, through its .ditto text (what is written is what was checked). */
export function candidateSchedule(g: Genome, c: CandidateContext, m: SourceModel, steps: number): { ir: ScheduleIR; text: string } {
  const text = scheduleSource(g, { name: c.name, model: m.graph.model, group: c.group, steps, use: c.use, epsScales: c.epsScales });
  try {
    const program = loadSource({ text, path: c.file });
    return { ir: scheduleFor(m, c.name, steps, { program }), text };
  } catch (e) {
    if (isDittoError(e) && e.isUserError) throw new DittoError('E_INTERNAL', `a search candidate does not check (${e.message}):\n${text}`);
    throw e;
  }
}

/**
 * The calibration probes of a model read from `modelFile` and lowered at the timing batch, each
 * compiled with `options` (the benchmarked plans' options, so their kernels are the same). A model
 * without a repetition of `attn` and `mlp` (nothing to cache) is probed by its no-cache plan alone.
 */
export function calibrationProbes(modelFile: string, m: SourceModel, options: Omit<PlanOptions, 'steps'>, seed = 0, steps = BENCH_PROBE_STEPS): Probe[] {
  const noCache: Probe = { name: 'no cache', plan: () => planFor(m, undefined, { ...options, steps }).plan };
  let group: string;
  let blocks: number;
  try {
    const t = tableTargets(m.graph);
    group = t.group;
    blocks = t.attn.length;
  } catch (e) {
    if (isDittoError(e) && e.code === 'E_USAGE') return [noCache];
    throw e;
  }
  const file = path.join(path.dirname(path.resolve(modelFile)), '__calibration_probe.ditto');
  const c: CandidateContext = { name: 'calibration_probe', group, use: dittoPath(file, modelFile), file, epsScales: ['1'] };
  return probeGenomes(blocks, steps, seed).map((g, i): Probe => (i === 0 || !g ? noCache : {
    name: `probe ${i}`,
    plan: (): Plan => planFor(m, candidateSchedule(g, c, m, steps).ir, { ...options, steps }).plan,
  }));
}
