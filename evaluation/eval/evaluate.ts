/**
 * `runEval`: sample the same noise under the no-cache baseline and every listed schedule, then
 * score each against the FID statistics, the requested classes and the baseline.
 *
 * Timing is made fair on a busy machine by interleaving: every plan is prepared (and, on the GPU,
 * run once untimed so shader compilation is not timed), then batch j is sampled by every schedule
 * in turn before batch j + 1. Load that comes and goes then hits every schedule alike.
 * Batch j uses seed + j and classes (j·B + i) mod classes, so image g always has class g mod
 * classes and the same noise under every schedule. The last batch is sampled whole and trimmed to
 * `samples`, so every schedule times the same work.
 *
 * With `resumeDir`, every finished batch is saved (progressStore.ts) and a later run with the same
 * settings continues after the last saved batch; more samples extend a finished run.
 */
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import { createGpu } from '../../runtime/device.ts';
import { gpuBackend, referenceBackend, type PreparedSampler, type SamplerBackend } from './samplers.ts';
import { setupEval, type EvalSetup } from './setup.ts';
import { clockStallNotes } from './clockStalls.ts';
import { ProgressStore, settingsDifferences, weightsDigest, type ProgressSettings } from './progressStore.ts';
import { graphHash, sha256 } from '../../compiler/plan/tables.ts';
import { canonicalJson } from '../../compiler/kernels/common.ts';
import { classesOfRange, classifyRows, concatImages, scoreEval } from './score.ts';
import type { EvalConfig, EvalReport } from './types.ts';

const MAX_SEED = 2 ** 32 - 1;

export function checkConfig(cfg: EvalConfig): void {
  const whole = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new DittoError('E_USAGE', `${name} must be a whole number ≥ ${min}, got ${v}`);
  };
  whole('--samples', cfg.samples, 1);
  whole('--batch', cfg.batch, 1);
  whole('--steps', cfg.steps, 1);
  whole('--seed', cfg.seed, 0);
  const batches = Math.ceil(cfg.samples / cfg.batch);
  if (cfg.seed + batches - 1 > MAX_SEED) throw new DittoError('E_USAGE', `--seed ${cfg.seed} + ${batches} batches runs past the largest seed ${MAX_SEED}`);
  if (cfg.cfgScale !== undefined && !Number.isFinite(cfg.cfgScale)) throw new DittoError('E_USAGE', `--cfg must be a finite number, got ${cfg.cfgScale}`);
}

/** Classes of batch j: image g = j·batch + i has class g mod classCount. */
export function classesOfBatch(j: number, batch: number, classCount: number): number[] {
  return classesOfRange(j * batch, (j + 1) * batch, classCount);
}

/**
 * Everything that decides what batch j samples; a resumed run and the shards of one evaluation must
 * match it exactly. `device` is left out where the caller does not know it yet (a queue's submitter).
 */
export function evalSettings(cfg: EvalConfig, setup: EvalSetup, device?: string): ProgressSettings {
  return {
    model: setup.graph.model,
    graph: graphHash(setup.graph),
    weights: weightsDigest(cfg.weights),
    schedules: setup.rows.map((r) => r.name).join(', '),
    scheduleTables: sha256(canonicalJson(setup.rows.map((r) => r.schedule ?? null))),
    steps: cfg.steps,
    sampler: cfg.sampler,
    cfg: cfg.cfgScale ?? null,
    batch: cfg.batch,
    seed: cfg.seed,
    ...(device !== undefined ? { device } : {}),
  };
}

/** A range of batches [first, end) of an evaluation. */
export interface BatchRange {
  first: number;
  end: number;
}

/** What sampling a range of batches produced, before scoring. */
export interface SampledRange {
  setup: EvalSetup;
  /** evalSettings(…) with the device: what shards must agree on. */
  settings: ProgressSettings;
  /** The backend's label ('gpu: <adapter>' or 'reference executor (CPU)'). */
  device: string;
  warmup: boolean;
  rows: { name: string; schedule: string; predictedSpeedup: number | null; flopsRatio: number | null; planHash: string }[];
  /** Per row: the images of samples [first·batch, min(end·batch, samples)), in index order. */
  images: Tensor[];
  /** Per row: the timed seconds of this range's batches. */
  seconds: number[];
  notes: string[];
}

export interface SampleOptions {
  /** Settings the run must have (all but the device); anything else is an E_USAGE error naming each difference. */
  expectSettings?: ProgressSettings;
}

/**
 * Samples batches [range.first, range.end) under every schedule, interleaved batch by batch. Batch j
 * is the same whatever range it is sampled in: seed + j and classes of images j·batch + i.
 */
export async function sampleRange(cfg: EvalConfig, range: BatchRange, opts: SampleOptions = {}): Promise<SampledRange> {
  checkConfig(cfg);
  const setup = setupEval({ modelFile: cfg.modelFile, model: cfg.model, set: cfg.set, schedules: cfg.schedules, steps: cfg.steps, sampler: cfg.sampler, batch: cfg.batch, cfg: cfg.cfgScale !== undefined });
  if (opts.expectSettings) {
    const mine = evalSettings(cfg, setup);
    const differ = settingsDifferences(opts.expectSettings, mine, 'submitted', 'here');
    if (differ.length) throw new DittoError('E_USAGE', `this machine's files give other settings than the submitted evaluation (${differ.join('; ')}); run workers with the same model, schedule and weights files`);
  }
  const notes: string[] = [];
  const ownGpu = cfg.device === 'gpu' && !cfg.gpu ? await createGpu(cfg.deviceOptions) : undefined;
  const gpu = cfg.gpu ?? ownGpu;
  const backend: SamplerBackend = cfg.device === 'gpu' ? gpuBackend(gpu!, cfg.weights, cfg.weightsFile) : referenceBackend(cfg.weights, cfg.weightsFile);
  const settings = { steps: cfg.steps, batch: cfg.batch, sampler: cfg.sampler, ...(cfg.cfgScale !== undefined ? { cfgScale: cfg.cfgScale } : {}) };
  const progress = cfg.onProgress ?? (() => undefined);
  const prepared: PreparedSampler[] = [];
  try {
    for (const [i, row] of setup.rows.entries()) {
      progress({ phase: 'compile', done: i, total: setup.rows.length, row: row.name });
      prepared.push(await backend.prepare(setup.model, row.schedule, settings));
    }
    const { first, end } = range;
    let parts: Tensor[][] = prepared.map(() => []);
    let seconds = prepared.map(() => 0);
    let batchSeconds: (number | undefined)[][] = prepared.map(() => []);
    let next = first;
    let store: ProgressStore | undefined;
    if (cfg.resumeDir !== undefined) {
      if (first !== 0) throw new DittoError('E_INTERNAL', 'resuming is for whole evaluations, not ranges of batches');
      const [c, h, w] = setup.imageShape;
      store = new ProgressStore(cfg.resumeDir, evalSettings(cfg, setup, backend.label), prepared.length, cfg.batch * c * h * w, [cfg.batch, c, h, w]);
      const saved = store.load();
      if (saved) {
        ({ parts, seconds, batchSeconds } = saved);
        next = saved.batches;
        if (next > 0) notes.push(`resumed from ${store.dir}: ${Math.min(next, end)} of ${end} batches were sampled by an earlier run (their seconds count in the speed-ups)`);
      } else store.start();
    }
    const warmup = (cfg.warmup ?? true) && backend.needsWarmup && next < end;
    if (warmup) {
      for (const [i, p] of prepared.entries()) {
        progress({ phase: 'warmup', done: i, total: prepared.length, row: setup.rows[i]!.name });
        await p.sample(cfg.seed, classesOfBatch(0, cfg.batch, setup.classes));
      }
    }
    const total = (end - first) * prepared.length;
    for (let j = next; j < end; j++) {
      const classes = classesOfBatch(j, cfg.batch, setup.classes);
      for (const [i, p] of prepared.entries()) {
        progress({ phase: 'sample', done: (j - first) * prepared.length + i, total, row: setup.rows[i]!.name });
        const r = await p.sample(cfg.seed + j, classes);
        parts[i]!.push(r.images);
        seconds[i]! += r.seconds;
        batchSeconds[i]!.push(r.seconds);
      }
      store?.append(parts.map((p) => p[j]!), j + 1, seconds, batchSeconds);
    }
    progress({ phase: 'sample', done: total, total });
    notes.push(...clockStallNotes(setup.rows.map((row, i) => ({ name: row.name, batches: batchSeconds[i]! }))));
    const count = Math.min(end * cfg.batch, cfg.samples) - first * cfg.batch;
    return {
      setup,
      settings: evalSettings(cfg, setup, backend.label),
      device: backend.label,
      warmup,
      rows: setup.rows.map((row, i) => ({ name: row.name, schedule: row.schedule?.name ?? 'none', predictedSpeedup: prepared[i]!.predictedSpeedup, flopsRatio: prepared[i]!.flopsRatio, planHash: prepared[i]!.planHash })),
      images: parts.map((p) => concatImages(p.slice(0, end - first), count)),
      seconds,
      notes,
    };
  } finally {
    for (const p of prepared) p.destroy();
    ownGpu?.device.destroy();
  }
}

/** The header of a report: the run's settings as the table and eval.json show them. */
export function reportHeader(cfg: Pick<EvalConfig, 'model' | 'modelFile' | 'steps' | 'sampler' | 'cfgScale' | 'samples' | 'batch' | 'seed'>, model: string, classCount: number, device: string, warmup: boolean) {
  return {
    model: cfg.model ?? model,
    modelFile: cfg.modelFile,
    steps: cfg.steps,
    sampler: cfg.sampler,
    cfgScale: cfg.cfgScale ?? null,
    samples: cfg.samples,
    batch: cfg.batch,
    seed: cfg.seed,
    classCount,
    device,
    warmup,
  };
}

export async function runEval(cfg: EvalConfig): Promise<EvalReport> {
  checkConfig(cfg);
  const s = await sampleRange(cfg, { first: 0, end: Math.ceil(cfg.samples / cfg.batch) });
  const progress = cfg.onProgress ?? (() => undefined);
  const classified = classifyRows(s.images, s.setup.imageShape, s.setup.classes, cfg.classifier, progress);
  return scoreEval({
    header: reportHeader(cfg, s.setup.graph.model, s.setup.classes, s.device, s.warmup),
    imageShape: s.setup.imageShape,
    rows: s.rows.map((r, i) => ({ ...r, images: s.images[i]!, seconds: s.seconds[i]! })),
    classified,
    notes: s.notes,
    ...(cfg.fid !== undefined ? { fid: cfg.fid } : {}),
    ...(cfg.bootstrap !== undefined ? { bootstrap: cfg.bootstrap } : {}),
    ...(cfg.referenceStats ? { referenceStats: cfg.referenceStats } : {}),
    onProgress: progress,
  });
}
