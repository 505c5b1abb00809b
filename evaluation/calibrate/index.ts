/**
 * `calibrate`: EB-Cache's table calibration (docs/ebcache.md "Calibration", Algorithm 1, reconstructed
 * as docs/calibrate.md describes) on the CPU reference executor, ending in a checked, compiled
 * table schedule.
 *
 * Order of work, so that every user error comes before the slow part and no partial output is
 * ever left: flags → model → pre-flight of the schedule text (name, `use`, eps_scale) and the cost
 * probe → budget feasibility → greedy passes and the δ-scale search → write the .npy and the .ditto
 * (each atomically) → load, resolve and compile the written file (removing both files if that fails)
 * → check the compiled FLOPs ratio equals the one the search used.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { DittoError, isDittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { loadSource, openModel, planFor, scheduleFor, type SourceModel } from '../../compiler/compileSource.ts';
import { DEFAULT_SAMPLER } from '../../compiler/passes/options.ts';
import type { Weights } from '../../runtime/reference/forward.ts';
import type { GuideChannels } from '../../runtime/sampler/guidance.ts';
import { noiseForRun, philox4x32 } from '../../runtime/sampler/noise.ts';
import { minimumRatio, stateCostsFromProbe, tableRatio, type StateCosts } from './cost.ts';
import { encodeNpyInt64 } from './npyWriter.ts';
import { calibratedScheduleText, dittoPath, preflightText, probeName, scheduleNameFor } from './scheduleText.ts';
import { GreedyCalibration, searchBudget } from './search.ts';
import type { CacheState, Threshold } from './states.ts';
import { tableTargets, TrajectoryModel } from './trajectory.ts';

/** δ(t) = a + b·t before scaling: 1 % at the last step, 5 % at the first (docs/calibrate.md). */
export const DEFAULT_THRESHOLD: Threshold = { a: 0.01, b: 0.04 };
export const DEFAULT_SAMPLES = 8;

export interface CalibrateOptions {
  /** The .ditto file declaring the model. */
  modelFile: string;
  model?: string;
  set?: Record<string, number>;
  /** Weights matching the model (validated by the caller, or checked lazily by the executor). */
  weights: Weights;
  steps: number;
  /** Target FLOPs ratio R in (0, 1]. */
  budget: number;
  samples?: number;
  sampler?: 'ddpm' | 'ddim';
  cfgScale?: number;
  guide?: GuideChannels;
  seed?: number;
  threshold?: Threshold;
  /** An `eps_scale` expression of the language (`1 / 0.965`, `piecewise(…)`), or none. */
  epsScale?: string;
  /** Where to write the schedule (.ditto); the table goes next to it with the extension .npy. */
  output: string;
  /** Progress lines for long runs (the CLI shows them on a terminal). */
  progress?: (line: string) => void;
}

export interface CalibrateResult {
  scheduleFile: string;
  tableFile: string;
  scheduleName: string;
  /** States in sampling order (k = 0 first). */
  table: CacheState[];
  /** The same, in count-down order (index i), as written to the .npy. */
  countdown: CacheState[];
  /** FLOPs ratio of the emitted plan (plan.cost.flopsRatio). */
  flopsRatio: number;
  predictedSpeedup: number;
  budget: number;
  /** δ scale λ and the scaled line δ(t) = a + b·t actually used. */
  scale: number;
  delta: Threshold;
  classes: number[];
  /** Greedy passes of the search and model evaluations they ran. */
  passes: number;
  evaluations: number;
}

function usage(msg: string): never {
  throw new DittoError('E_USAGE', msg);
}

export function validateCalibrateOptions(o: CalibrateOptions): void {
  if (!Number.isInteger(o.steps) || o.steps < 1 || o.steps > 1000) usage(`--steps must be a whole number from 1 to 1000, got ${o.steps}`);
  if (!(Number.isFinite(o.budget) && o.budget > 0 && o.budget <= 1)) usage(`--budget is the target FLOPs ratio (cached / all-compute) and must lie in (0, 1], got ${o.budget}`);
  const n = o.samples ?? DEFAULT_SAMPLES;
  if (!Number.isInteger(n) || n < 1) usage(`--samples must be a whole number ≥ 1, got ${n}`);
  const th = o.threshold ?? DEFAULT_THRESHOLD;
  if (!(Number.isFinite(th.a) && th.a > 0)) usage(`--delta a,b: a must be > 0 (δ(t) = a + b·t must be positive at every step), got a = ${th.a}`);
  if (!(Number.isFinite(th.b) && th.b >= 0)) usage(`--delta a,b: b must be ≥ 0 (δ(t) is positive-linear in t), got b = ${th.b}`);
  if (o.seed !== undefined && (!Number.isSafeInteger(o.seed) || o.seed < 0)) usage(`--seed must be a non-negative integer, got ${o.seed}`);
  if (o.cfgScale !== undefined && !Number.isFinite(o.cfgScale)) usage(`--cfg must be a finite number, got ${o.cfgScale}`);
  if (!/\.ditto$/i.test(o.output)) usage(`-o must name a .ditto file (the table is written next to it as .npy), got '${o.output}'`);
  if (path.resolve(o.output) === path.resolve(o.modelFile)) usage(`-o '${o.output}' is the model file itself; write the schedule to another file`);
  if (o.epsScale !== undefined && (o.epsScale.trim() === '' || /[\n;{}]/.test(o.epsScale))) usage(`--eps-scale must be one eps_scale expression (e.g. '1 / 0.965'), got '${o.epsScale}'`);
}

/** The calibration samples' class ids, drawn from the seed (Philox, a stream apart from the noise's). */
export function calibrationClasses(seed: number, samples: number, numClasses: number): number[] {
  return Array.from({ length: samples }, (_, b) => philox4x32([b, 0, 0, 1], [seed % 2 ** 32, Math.floor(seed / 2 ** 32)])[0] % numClasses);
}

function withContext<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isDittoError(e) && e.isUserError) throw new DittoError(e.code, `${what}: ${e.message}`, e.span, e.detail);
    throw e;
  }
}

interface Preflight {
  epsScale: number[];
  costs: StateCosts;
}

function preflight(o: Calibrating, text: string, name: string, model1: SourceModel): Preflight {
  return withContext(`the schedule calibrate would write to ${o.output} does not check (see --eps-scale and -o)`, () => {
    const program = loadSource({ text, path: o.output });
    const ir = scheduleFor(model1, name, o.steps, { program, sampler: o.sampler });
    const probe = scheduleFor(model1, probeName(name), 4, { program });
    const plan = planFor(model1, probe, planOptions(o, 4)).plan;
    return { epsScale: [...ir.epsScale], costs: stateCostsFromProbe(plan) };
  });
}

function planOptions(o: Calibrating, steps: number) {
  return { steps, sampler: o.sampler, guide: o.guide ?? 'first3', ...(o.cfgScale !== undefined ? { cfgScale: o.cfgScale } : {}) } as const;
}

/** The options with the sampler defaulted once, so every step of a calibration uses the same one. */
type Calibrating = CalibrateOptions & { readonly sampler: NonNullable<CalibrateOptions['sampler']> };

export function calibrate(given: CalibrateOptions): CalibrateResult {
  validateCalibrateOptions(given);
  const o: Calibrating = { ...given, sampler: given.sampler ?? DEFAULT_SAMPLER };
  const sampler = o.sampler;
  const samples = o.samples ?? DEFAULT_SAMPLES;
  const seed = o.seed ?? 0;
  const threshold = o.threshold ?? DEFAULT_THRESHOLD;
  const cfg = o.cfgScale !== undefined;
  const program = loadSource(o.modelFile);
  const model1 = openModel(program, { model: o.model, set: o.set, batch: 1, cfg });
  const graph1 = model1.graph;
  const graphN = openModel(program, { model: o.model, set: o.set, batch: samples, cfg }).graph;
  const numClasses = graphN.params.classes;
  if (numClasses === undefined || !Number.isInteger(numClasses) || numClasses < 1) usage(`model ${graphN.model} has no \`classes\` parameter: calibration samples need class labels`);

  const name = scheduleNameFor(o.output);
  const tableFile = o.output.replace(/\.ditto$/i, '.npy');
  const group = tableTargets(graph1).group;
  const text = { name, model: graph1.model, group, steps: o.steps, sampler, use: dittoPath(o.output, o.modelFile), ...(o.epsScale !== undefined ? { epsScale: o.epsScale.trim() } : {}) };
  const pre = preflight(o, preflightText(text), name, model1);
  const floor = minimumRatio(pre.costs, o.steps);
  if (o.budget < floor - 1e-12) {
    usage(`--budget ${o.budget} is below the smallest FLOPs ratio a ${o.steps}-step table reaches on this model (${floor.toFixed(4)}: the first step computes, every other step reuses both)`);
  }

  const classes = calibrationClasses(seed, samples, numClasses);
  const model = new TrajectoryModel({
    graph: graphN, weights: o.weights, steps: o.steps, sampler, classes, epsScale: pre.epsScale,
    noise: noiseForRun(seed, samples, graphN.nodes[graphN.inputs.find((i) => i.name === 'x')!.node]!.shape.slice(1), o.steps),
    ...(cfg ? { cfgScale: o.cfgScale } : {}), ...(o.guide ? { guide: o.guide } : {}),
  });
  const progress = o.progress;
  const cal = new GreedyCalibration(model, progress && ((k, S) => progress(`scoring step ${k}/${S - 1} (${model.evaluations} model evaluations so far)`)));
  const search = searchBudget(cal, {
    threshold, budget: o.budget, ratioOf: (t) => tableRatio(pre.costs, t),
    ...(progress ? { onPass: (p: { n: number; scale: number; ratio: number; table: readonly CacheState[] }) => progress(`pass ${p.n}: δ scale ${fmt(p.scale)} → ${p.table.join('')}, FLOPs ratio ${p.ratio.toFixed(4)}`) } : {}),
  });
  const countdown = [...search.table].reverse();

  const header = [
    `Calibrated by \`ditto calibrate\` (EB-Cache Algorithm 1 as reconstructed in docs/calibrate.md).`,
    `model ${o.model ?? graph1.model}${o.set ? ` (set ${Object.entries(o.set).map(([k, v]) => `${k}=${v}`).join(',')})` : ''}, ${o.steps} steps, ${sampler}, cfg ${o.cfgScale ?? 'none'}, ${samples} samples, seed ${seed}`,
    `budget ${o.budget}: FLOPs ratio ${search.ratio.toFixed(4)}; δ(t) = ${fmt(search.scale * threshold.a)} + ${fmt(search.scale * threshold.b)}·t`,
    `states in sampling order (k = 0..${o.steps - 1}): ${search.table.join('')}  (the .npy holds them in count-down order)`,
  ];
  const out = calibratedScheduleText({ ...text, table: dittoPath(o.output, tableFile), header });
  writeFileAtomic(tableFile, encodeNpyInt64(countdown));
  let flopsRatio: number;
  let predictedSpeedup: number;
  try {
    writeFileAtomic(o.output, out);
    // Prove the written file is a schedule like any other: load, resolve, compile.
    const ir = scheduleFor(model1, name, o.steps, { program: loadSource(o.output), sampler });
    const plan = planFor(model1, ir, planOptions(o, o.steps)).plan;
    flopsRatio = plan.cost.flopsRatio;
    predictedSpeedup = plan.cost.predictedSpeedup;
    if (Math.abs(flopsRatio - search.ratio) > 1e-9) {
      throw new DittoError('E_INTERNAL', `the compiled FLOPs ratio ${flopsRatio} of ${o.output} differs from the per-state estimate ${search.ratio}`);
    }
  } catch (e) {
    rmSync(o.output, { force: true });
    rmSync(tableFile, { force: true });
    throw e;
  }
  return {
    scheduleFile: o.output, tableFile, scheduleName: name, table: search.table, countdown, flopsRatio, predictedSpeedup, budget: o.budget,
    scale: search.scale, delta: { a: search.scale * threshold.a, b: search.scale * threshold.b }, classes, passes: search.passes, evaluations: model.evaluations,
  };
}

function fmt(x: number): string {
  return Number(x.toPrecision(4)).toString();
}
