/**
 * `ditto search`: cache schedules found under a speed budget (docs/search.md).
 *
 * Order of work, so that every user error comes before the slow part and no partial output file is
 * ever left: options → model and schedule text (a probe candidate checks and compiles) → output
 * folder and saved state → kernel-time calibration on this adapter (or the saved one) → budget
 * feasibility → the no-cache calibration images → the evolutionary search (evolve.ts), each
 * candidate compiled at the timing batch (cost) and sampled on the calibration samples (fidelity),
 * the state saved after each → finalists: a small-N evaluation (FID, realised speed-up) of the best
 * candidates under the budget with each eps scale → the chosen schedule, the front and the picture,
 * each written atomically.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import type { Tensor } from '../../core/tensor.ts';
import { openModel, planFor, type SourceModel } from '../../compiler/compileSource.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS, type CompileCaps } from '../../compiler/plan/caps.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { graphHash } from '../../compiler/plan/tables.ts';
import { createGpu, type DeviceOptions, type GpuContext } from '../../runtime/device.ts';
import { dittoPath } from '../calibrate/scheduleText.ts';
import { tableTargets } from '../calibrate/trajectory.ts';
import { gpuBackend, referenceBackend, type PreparedSampler } from '../eval/samplers.ts';
import { classesOfBatch, runEval } from '../eval/evaluate.ts';
import { imageShapeOf } from '../eval/setup.ts';
import { classifierMetricsUnavailable } from '../eval/imageMetrics.ts';
import { weightsDigest } from '../eval/progressStore.ts';
import { loadClassifier, type Classifier } from '../metrics/classifier.ts';
import type { FeatureStats } from '../metrics/fid.ts';
import { budgetMsPerImage, budgetText, type Budget } from './budget.ts';
import { predictPlan, rooflineKernelTimes, withAllComputeStep, type KernelTimes } from '../../compiler/plan/kernelTimes.ts';
import { scheduleDecl, scheduleSource } from './emit.ts';
import { evolve, mutate, paretoFront, seedGenomes, type Scored } from './evolve.ts';
import { fidelityTo, referenceOf, type Reference } from './fidelity.ts';
import { frontSvg } from './frontSvg.ts';
import { cloneGenome, type Genome, genomeKey } from './genome.ts';
import { measureKernelTimes } from './measure.ts';
import { candidateSchedule, fastestGenome, probeGenomes, PROBE_STEPS } from './probes.ts';
import { loadState, saveState, statePath, type Evaluated, type FinalistResult, type SearchState } from './state.ts';
import { uniformStream } from '../../core/random.ts';

export { parseBudget, type Budget } from './budget.ts';
export type { KernelTimes } from '../../compiler/plan/kernelTimes.ts';
export { fastestGenome } from './probes.ts';

export interface SearchOptions {
  modelFile: string;
  model?: string;
  set?: Record<string, number>;
  weights: ReadonlyMap<string, Tensor>;
  weightsFile: string;
  steps: number;
  sampler: 'ddpm' | 'ddim';
  cfgScale?: number;
  budget: Budget;
  /** The output folder (created if missing): the chosen schedule, front.json/.svg, the state. */
  outDir: string;
  /** Name of the chosen schedule (an identifier); default search_<sampler>. */
  name?: string;
  seed?: number;
  /** Calibration samples the fidelity is measured on (one batch). Default 10. */
  samples?: number;
  /** The batch the speed is predicted and measured at (eval's batch). Default 50. */
  batch?: number;
  population?: number;
  generations?: number;
  /** Candidates under the budget given a small-N evaluation. Default 3; 0: choose by fidelity alone. */
  finalists?: number;
  finalistSamples?: number;
  /** eps_scale expressions tried on the finalists; default ['1', '1 / 0.965'] under DDPM, ['1'] under DDIM. */
  epsScales?: readonly string[];
  device?: 'gpu' | 'reference';
  gpu?: GpuContext;
  deviceOptions?: DeviceOptions;
  /** Kernel times to use instead of measuring them (e.g. another search's front.json `kernelTimes`). */
  kernelTimes?: KernelTimes;
  resume?: boolean;
  /** Evaluate at most this many new candidates in this run, then stop (the state keeps them). */
  stopAfter?: number;
  classifier?: Classifier;
  referenceStats?: FeatureStats;
  onProgress?: (p: SearchProgress) => void;
}

export interface SearchProgress {
  phase: 'calibrate' | 'baseline' | 'search' | 'finalists';
  done: number;
  total: number;
  note?: string;
}

export interface CandidateReport {
  name: string;
  key: string;
  speedup: number;
  msPerImage: number;
  rooflineSpeedup: number;
  loss: number;
  imageError: number;
  featureError: number | null;
  psnr: number | null;
  source: string;
}

export interface FinalistReport extends CandidateReport {
  epsScale: string;
  fid: number | null;
  deltaFid: number | null;
  realisedSpeedup: number;
}

export interface SearchResult {
  complete: boolean;
  outDir: string;
  /** Candidates evaluated (all runs of a resumed search together). */
  evaluations: number;
  baselineMsPerImage: number;
  budgetMsPerImage: number;
  kernelTimes: KernelTimes;
  front: CandidateReport[];
  finalists: FinalistReport[];
  chosen: (FinalistReport & { file: string }) | null;
  files: string[];
}

const DEFAULTS = { seed: 0, samples: 10, batch: 50, population: 12, generations: 8, finalists: 3, finalistSamples: 200 };

function usage(msg: string): never {
  throw new DittoError('E_USAGE', msg);
}

export function validateSearchOptions(o: SearchOptions): void {
  const whole = (flag: string, v: number | undefined, min: number, max = 1_000_000) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) usage(`${flag} must be a whole number from ${min} to ${max}, got ${v}`);
  };
  whole('--steps', o.steps, 2, 1000);
  whole('--seed', o.seed, 0, 2 ** 32 - 1);
  whole('--samples', o.samples, 2, 4096);
  whole('--batch', o.batch, 1, 4096);
  whole('--population', o.population, 2, 1000);
  whole('--generations', o.generations, 0, 10_000);
  whole('--finalists', o.finalists, 0, 100);
  whole('--finalist-samples', o.finalistSamples, 2, 1_000_000);
  if (o.sampler !== 'ddpm' && o.sampler !== 'ddim') usage(`--sampler must be ddpm or ddim, got '${o.sampler}'`);
  if (o.cfgScale !== undefined && !Number.isFinite(o.cfgScale)) usage(`--cfg must be a finite number, got ${o.cfgScale}`);
  if (o.name !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.name)) usage(`--name must be an identifier (letters, digits, _), got '${o.name}'`);
  for (const e of o.epsScales ?? []) if (e.trim() === '' || /[\n;{}]/.test(e)) usage(`--eps-scales: each entry must be one eps_scale expression (e.g. '1 / 0.965'), got '${e}'`);
  if (o.epsScales && o.epsScales.length === 0) usage('--eps-scales must list at least one scale (1 for none)');
}

/** Everything the search derives from the options once. */
interface Setup {
  /** The model lowered for the calibration samples (fidelity) and for the timing batch (cost). */
  fid: SourceModel;
  time: SourceModel;
  group: string;
  blocks: number;
  name: string;
  epsScales: string[];
  caps: CompileCaps;
  candidateFile: string;
  use: string;
  classifier: Classifier | undefined;
}

function setup(o: SearchOptions, samples: number, batch: number): Setup {
  const choice = { model: o.model, set: o.set, cfg: o.cfgScale !== undefined };
  const fid = openModel(o.modelFile, { ...choice, batch: samples });
  const time = openModel(fid.program, { ...choice, batch });
  const graphFid = fid.graph;
  const targets = tableTargets(graphFid);
  const name = o.name ?? `search_${o.sampler}`;
  const candidateFile = path.join(path.resolve(o.outDir), `${name}.ditto`);
  const [c, h, w] = imageShapeOf(graphFid);
  const why = classifierMetricsUnavailable([c, h, w], graphFid.params['classes'] ?? 0);
  return {
    fid, time, group: targets.group, blocks: targets.attn.length, name,
    epsScales: [...(o.epsScales ?? (o.sampler === 'ddpm' ? ['1', '1 / 0.965'] : ['1']))].map((s) => s.trim()),
    caps: o.device === 'reference' ? HARDWARE_CAPS : LAVAPIPE_CAPS,
    candidateFile, use: dittoPath(candidateFile, o.modelFile),
    classifier: why ? undefined : (o.classifier ?? loadClassifier()),
  };
}

/** The schedule IR of a candidate, through its .ditto text (what is written is what was checked). */
function resolveCandidate(s: Setup, g: Genome, m: SourceModel, steps: number, name = s.name): { ir: ScheduleIR; text: string } {
  return candidateSchedule(g, { name, group: s.group, use: s.use, file: s.candidateFile, epsScales: s.epsScales }, m, steps);
}

/** The plan of a candidate (undefined: no cache) at the timing batch. */
function compileAt(o: SearchOptions, s: Setup, steps: number, g: Genome | undefined): Plan {
  const ir = g ? resolveCandidate(s, g, s.time, steps).ir : undefined;
  return planFor(s.time, ir, { steps, sampler: o.sampler, caps: s.caps, guide: 'first3', f16: false, ...(o.cfgScale !== undefined ? { cfgScale: o.cfgScale } : {}) }).plan;
}

function settingsOf(o: SearchOptions, s: Setup, d: typeof DEFAULTS, device: string) {
  return {
    model: s.time.graph.model, graph: graphHash(s.time.graph), weights: weightsDigest(o.weights), steps: o.steps, sampler: o.sampler, cfg: o.cfgScale ?? null,
    budget: budgetText(o.budget), seed: d.seed, samples: d.samples, batch: d.batch, population: d.population, generations: d.generations, device,
  };
}

/** What decides the finalists' evaluation (not the search): a resume with other values redoes only that stage. */
function finalistSettingsOf(s: Setup, d: typeof DEFAULTS): string {
  return JSON.stringify({ finalists: d.finalists, finalistSamples: d.finalistSamples, epsScales: s.epsScales });
}

class StopSearch extends Error {}

export async function runSearch(o: SearchOptions): Promise<SearchResult> {
  validateSearchOptions(o);
  const d = {
    seed: o.seed ?? DEFAULTS.seed, samples: o.samples ?? DEFAULTS.samples, batch: o.batch ?? DEFAULTS.batch, population: o.population ?? DEFAULTS.population,
    generations: o.generations ?? DEFAULTS.generations, finalists: o.finalists ?? DEFAULTS.finalists, finalistSamples: o.finalistSamples ?? DEFAULTS.finalistSamples,
  };
  const s = setup(o, d.samples, d.batch);
  // A probe candidate of every action kind proves the emitted text checks and compiles before any slow work.
  const probeRng = uniformStream(d.seed ^ 0x5eed);
  const probe = mutate(probeRng, seedGenomes(s.blocks, o.steps)[7]!, undefined, s.blocks, o.steps);
  compileAt(o, s, o.steps, { ...probe, eps: s.epsScales.length - 1 });
  const progress = o.onProgress ?? (() => undefined);

  const device = o.device ?? 'gpu';
  const ownGpu = device === 'gpu' && !o.gpu ? await createGpu(o.deviceOptions) : undefined;
  const gpu = o.gpu ?? ownGpu;
  const deviceLabel = gpu ? `gpu: ${gpu.report.name}` : 'reference executor (CPU)';
  mkdirSync(o.outDir, { recursive: true });
  const startedHere = !existsSync(statePath(o.outDir));
  const state: SearchState = loadState(o.outDir, settingsOf(o, s, d, deviceLabel), o.resume ?? false);
  const prepared: PreparedSampler[] = [];
  try {
    // 1. Kernel times.
    if (!state.kernelTimes) {
      if (o.kernelTimes) state.kernelTimes = o.kernelTimes;
      else if (!gpu) state.kernelTimes = rooflineKernelTimes();
      else {
        const P = Math.min(o.steps, PROBE_STEPS);
        const probes = probeGenomes(s.blocks, P, d.seed);
        state.kernelTimes = await measureKernelTimes({
          gpu, weights: o.weights, weightsFile: o.weightsFile, caps: s.caps,
          probes: probes.map((g, i) => ({ name: i === 0 ? 'no cache' : `probe ${i}`, plan: () => compileAt(o, s, P, g) })),
          onProbe: (done, total, note) => progress({ phase: 'calibrate', done, total, note }),
        });
      }
      saveState(o.outDir, state);
    }
    // front.json also carries the calibrated all-compute step, so `ditto explain --kernel-times`
    // can give a speed-up for plans at the timing batch; the saved state keeps the times as measured.
    const basePlan = compileAt(o, s, o.steps, undefined);
    const times = withAllComputeStep(state.kernelTimes, basePlan, s.caps);
    const msPerImage = (plan: Plan) => predictPlan(plan, times, s.caps).ms / d.batch;

    // 2. Budget.
    const baselineMs = msPerImage(basePlan);
    const budgetMs = budgetMsPerImage(o.budget, baselineMs);
    const fastest = fastestGenome(s.blocks, o.steps);
    const fastestMs = msPerImage(compileAt(o, s, o.steps, fastest));
    if (fastestMs > budgetMs * (1 + 1e-9)) {
      // A state this run started holds only kernel times; left behind it would make the next run need --resume.
      if (startedHere) rmSync(statePath(o.outDir), { force: true });
      usage(
        `--budget ${budgetText(o.budget)} cannot be met: the fastest schedule the search space holds (every block skipped by residual reuse after step 0) is predicted at ` +
          `${(baselineMs / fastestMs).toFixed(2)}x (${fastestMs.toFixed(2)} ms per image, no cache ${baselineMs.toFixed(2)} ms) on ${times.adapter}; ask for at most that`,
      );
    }

    // 3. The no-cache images of the calibration samples.
    const backend = gpu ? gpuBackend(gpu, o.weights, o.weightsFile) : referenceBackend(o.weights, o.weightsFile);
    const sampleSettings = { steps: o.steps, batch: d.samples, sampler: o.sampler, ...(o.cfgScale !== undefined ? { cfgScale: o.cfgScale } : {}) };
    const classes = classesOfBatch(0, d.samples, s.fid.graph.params['classes'] ?? 0);
    progress({ phase: 'baseline', done: 0, total: 1 });
    const base = await backend.prepare(s.fid, undefined, sampleSettings);
    prepared.push(base);
    const ref: Reference = referenceOf((await base.sample(d.seed, classes)).images, s.classifier);
    base.destroy();
    prepared.pop();
    progress({ phase: 'baseline', done: 1, total: 1 });

    // 4. The search.
    let added = 0;
    const evaluate = async (g: Genome, key: string): Promise<Scored> => {
      const known = state.evaluations[key];
      if (known) return { key, genome: g, ms: known.ms, loss: known.loss };
      if (o.stopAfter !== undefined && added >= o.stopAfter) throw new StopSearch();
      const planT = compileAt(o, s, o.steps, g);
      const ms = msPerImage(planT);
      const ir = resolveCandidate(s, g, s.fid, o.steps).ir;
      const p = await backend.prepare(s.fid, ir, sampleSettings);
      prepared.push(p);
      const images = (await p.sample(d.seed, classes)).images;
      p.destroy();
      prepared.pop();
      const f = fidelityTo(ref, images, s.classifier);
      const e: Evaluated = {
        ms, speedup: baselineMs / ms, rooflineSpeedup: planT.cost.predictedSpeedup, measuredShare: predictPlan(planT, times, s.caps).measuredShare,
        loss: f.loss, imageError: f.imageError, featureError: f.featureError, psnr: Number.isFinite(f.psnr) ? f.psnr : null,
      };
      state.evaluations[key] = e;
      added++;
      saveState(o.outDir, state);
      return { key, genome: g, ms, loss: e.loss };
    };
    let all: Scored[];
    try {
      all = await evolve({
        blocks: s.blocks, steps: o.steps, seed: d.seed, population: d.population, generations: d.generations, budgetMs, evaluate,
        onCandidate: (done, total) => progress({ phase: 'search', done, total }),
      });
    } catch (e) {
      if (e instanceof StopSearch) {
        return { complete: false, outDir: o.outDir, evaluations: Object.keys(state.evaluations).length, baselineMsPerImage: baselineMs, budgetMsPerImage: budgetMs, kernelTimes: times, front: [], finalists: [], chosen: null, files: [] };
      }
      throw e;
    }
    // The fastest candidate anchors the front (and guarantees a candidate under the budget).
    all.push(await evaluate(fastest, genomeKey(fastest)));

    const report = (x: Scored, name: string): CandidateReport => {
      const e = state.evaluations[x.key]!;
      return {
        name, key: x.key, speedup: e.speedup, msPerImage: e.ms, rooflineSpeedup: e.rooflineSpeedup, loss: e.loss, imageError: e.imageError, featureError: e.featureError, psnr: e.psnr,
        source: scheduleDecl(x.genome, { name, model: s.time.graph.model, group: s.group, steps: o.steps, epsScales: s.epsScales, sampler: o.sampler }),
      };
    };
    const front = paretoFront(all);
    const frontReports = front.map((x, i) => report(x, `${s.name}_front_${i + 1}`));

    // 5. Finalists: the lowest losses under the budget, each with every eps scale, evaluated at small N.
    const feasible = all.filter((x) => x.ms <= budgetMs * (1 + 1e-9)).sort((a, b) => a.loss - b.loss || a.ms - b.ms || a.key.localeCompare(b.key));
    const picked = feasible.slice(0, Math.max(1, d.finalists));
    const variants: { x: Scored; eps: number; name: string; genome: Genome }[] = [];
    picked.forEach((x, i) => s.epsScales.forEach((_, e) => {
      const genome = { ...cloneGenome(x.genome), eps: e };
      variants.push({ x, eps: e, genome, name: `${s.name}_f${i + 1}${s.epsScales.length > 1 ? `_eps${e}` : ''}` });
    }));
    const finalistSettings = finalistSettingsOf(s, d);
    const saved = state.finalistSettings === finalistSettings ? state.finalists : null;
    let finalistResults: FinalistResult[] = saved ?? [];
    const workDir = path.join(o.outDir, '.search-work');
    if (d.finalists > 0 && !saved) {
      mkdirSync(workDir, { recursive: true });
      const files = variants.map((v) => {
        const file = path.join(workDir, `${v.name}.ditto`);
        writeFileAtomic(file, scheduleSource(v.genome, { name: v.name, model: s.time.graph.model, group: s.group, steps: o.steps, use: dittoPath(file, o.modelFile), epsScales: s.epsScales, sampler: o.sampler }));
        return file;
      });
      const rep = await runEval({
        modelFile: o.modelFile, ...(o.model !== undefined ? { model: o.model } : {}), ...(o.set ? { set: o.set } : {}), weights: o.weights, weightsFile: o.weightsFile,
        schedules: files, samples: d.finalistSamples, steps: o.steps, sampler: o.sampler, ...(o.cfgScale !== undefined ? { cfgScale: o.cfgScale } : {}),
        batch: Math.min(d.batch, d.finalistSamples), seed: d.seed, device: gpu ? 'gpu' : 'reference', ...(gpu ? { gpu } : {}),
        ...(s.classifier ? { classifier: s.classifier } : { fid: false }), ...(o.referenceStats ? { referenceStats: o.referenceStats } : {}),
        onProgress: (p) => progress({ phase: 'finalists', done: p.done, total: p.total, note: p.phase }),
      });
      finalistResults = variants.map((v, i) => {
        const row = rep.rows[i + 1]!;
        return { key: v.x.key, eps: v.eps, fid: row.fid, baselineFid: rep.rows[0]!.fid, realisedSpeedup: row.speedup, psnr: Number.isFinite(row.psnr) ? row.psnr : null, accuracy: row.accuracy };
      });
      state.finalists = finalistResults;
      state.finalistSettings = finalistSettings;
      saveState(o.outDir, state);
    }
    // Also the work folder of a finalist stage that was interrupted and is now skipped or already saved.
    rmSync(workDir, { recursive: true, force: true });
    const finalists: FinalistReport[] = variants.map((v) => {
      const r = finalistResults.find((f) => f.key === v.x.key && f.eps === v.eps);
      const base = report({ ...v.x, genome: v.genome }, v.name);
      return {
        ...base, epsScale: s.epsScales[v.eps]!, fid: r?.fid ?? null, deltaFid: r && r.fid !== null && r.baselineFid !== null ? r.fid - r.baselineFid : null,
        realisedSpeedup: r?.realisedSpeedup ?? NaN, ...(r ? { psnr: r.psnr } : {}),
      };
    });
    const order = [...finalists].sort((a, b) => (a.fid ?? Infinity) - (b.fid ?? Infinity) || a.loss - b.loss || a.name.localeCompare(b.name));
    const best = order[0] ?? null;

    // 6. Outputs.
    const files: string[] = [];
    const write = (name: string, text: string) => {
      const file = path.join(o.outDir, name);
      writeFileAtomic(file, text);
      files.push(file);
      return file;
    };
    const header = [
      `Found by \`ditto search\` (docs/search.md): ${s.time.graph.model}${o.model ? ` (${o.model})` : ''}, ${o.steps} steps, ${o.sampler}, cfg ${o.cfgScale ?? 'none'}, budget ${budgetText(o.budget)}, seed ${d.seed}, on ${times.adapter}.`,
    ];
    let chosen: SearchResult['chosen'] = null;
    if (best) {
      const v = variants.find((x) => x.name === best.name)!;
      // Measured wall-clock stays in front.json: the file is the same for the same seed and kernel times.
      const predicted = `predicted ${best.speedup.toFixed(2)}x (${times.source === 'measured' ? 'kernel times measured on this adapter' : 'roofline'})`;
      const fid = best.fid !== null ? `; FID ${best.fid.toFixed(2)} (no cache ${(best.fid - best.deltaFid!).toFixed(2)}) at ${d.finalistSamples} samples` : '';
      const file = write(`${s.name}.ditto`, scheduleSource(v.genome, { name: s.name, model: s.time.graph.model, group: s.group, steps: o.steps, use: s.use, epsScales: s.epsScales, sampler: o.sampler, header: [...header, `${predicted}; fidelity loss ${best.loss.toExponential(2)}${fid}.`] }));
      chosen = { ...best, name: s.name, file };
    }
    const front2 = [...header, 'The Pareto front (fastest first): speed against fidelity to the no-cache images.'];
    write('front.ditto', [...front2.map((h) => `// ${h}`), `use "${s.use}"`, '', ...front.map((x, i) => scheduleDecl(x.genome, { name: `${s.name}_front_${i + 1}`, model: s.time.graph.model, group: s.group, steps: o.steps, epsScales: s.epsScales, sampler: o.sampler }))].join('\n'));
    const result: SearchResult = {
      complete: true, outDir: o.outDir, evaluations: Object.keys(state.evaluations).length, baselineMsPerImage: baselineMs, budgetMsPerImage: budgetMs, kernelTimes: times,
      front: frontReports, finalists, chosen, files,
    };
    write('front.svg', frontSvg({
      title: `${s.time.graph.model} · ${o.steps} steps · ${o.sampler} · cfg ${o.cfgScale ?? 'none'} · ${result.evaluations} candidates`,
      all: all.map((x) => ({ speedup: baselineMs / x.ms, loss: x.loss })),
      front: frontReports.map((f) => ({ speedup: f.speedup, loss: f.loss })),
      finalists: finalists.map((f) => ({ speedup: f.speedup, loss: f.loss, realised: Number.isFinite(f.realisedSpeedup) ? f.realisedSpeedup : null, label: f.name })),
      chosen: chosen ? { speedup: chosen.speedup, loss: chosen.loss, label: `${chosen.name} ${chosen.speedup.toFixed(2)}x` } : null,
      budgetSpeedup: baselineMs / budgetMs,
    }));
    write('front.json', JSON.stringify({ settings: state.settings, ...result, files: undefined, kernelTimes: { ...times, signatures: Object.keys(times.bySignature).length } }, null, 2) + '\n');
    result.files = files;
    return result;
  } finally {
    for (const p of prepared) p.destroy();
    ownGpu?.device.destroy();
  }
}
