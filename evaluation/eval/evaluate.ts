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
import { tensor, type Tensor } from '../../core/tensor.ts';
import { createGpu } from '../../runtime/device.ts';
import { ClassifierMetrics, classifierMetricsUnavailable, fidelityToBaseline } from './imageMetrics.ts';
import { gpuBackend, referenceBackend, type PreparedSampler, type SamplerBackend } from './samplers.ts';
import { setupEval, type EvalSetup } from './setup.ts';
import { bootstrapFid, type FidBootstrap } from '../metrics/bootstrap.ts';
import { FEATURE_DIM } from '../metrics/classifier.ts';
import { ProgressStore, weightsDigest, type ProgressSettings } from './progressStore.ts';
import { graphHash, sha256 } from '../../compiler/plan/tables.ts';
import { canonicalJson } from '../../compiler/kernels/common.ts';
import type { EvalConfig, EvalReport, EvalRow } from './types.ts';

const MAX_SEED = 2 ** 32 - 1;

function checkConfig(cfg: EvalConfig): void {
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

/** Class of image g: cycling through the model's classes. */
export function classesOfBatch(j: number, batch: number, classCount: number): number[] {
  return Array.from({ length: batch }, (_, i) => (classCount > 0 ? (j * batch + i) % classCount : 0));
}

function concatImages(parts: Tensor[], n: number): Tensor {
  const per = parts[0]!.data.length / parts[0]!.shape[0]!;
  const data = new Float32Array(n * per);
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.data.length, data.length - o);
    data.set(p.data.subarray(0, take) as Float32Array, o);
    o += take;
  }
  return tensor([n, ...parts[0]!.shape.slice(1)], data);
}

/** Everything that decides what batch j samples; a resumed run must match it exactly. */
function progressSettings(cfg: EvalConfig, setup: EvalSetup, device: string): ProgressSettings {
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
    device,
  };
}

export async function runEval(cfg: EvalConfig): Promise<EvalReport> {
  checkConfig(cfg);
  const setup = setupEval({ modelFile: cfg.modelFile, model: cfg.model, set: cfg.set, schedules: cfg.schedules, steps: cfg.steps, batch: cfg.batch, cfg: cfg.cfgScale !== undefined });
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
      prepared.push(await backend.prepare(setup.graph, row.schedule, settings));
    }
    const batches = Math.ceil(cfg.samples / cfg.batch);
    let parts: Tensor[][] = prepared.map(() => []);
    let seconds = prepared.map(() => 0);
    let first = 0;
    let store: ProgressStore | undefined;
    if (cfg.resumeDir !== undefined) {
      const [c, h, w] = setup.imageShape;
      store = new ProgressStore(cfg.resumeDir, progressSettings(cfg, setup, backend.label), prepared.length, cfg.batch * c * h * w, [cfg.batch, c, h, w]);
      const saved = store.load();
      if (saved) {
        ({ parts, seconds } = saved);
        first = saved.batches;
        if (first > 0) notes.push(`resumed from ${store.dir}: ${Math.min(first, batches)} of ${batches} batches were sampled by an earlier run (their seconds count in the speed-ups)`);
      } else store.start();
    }
    const warmup = (cfg.warmup ?? true) && backend.needsWarmup && first < batches;
    if (warmup) {
      for (const [i, p] of prepared.entries()) {
        progress({ phase: 'warmup', done: i, total: prepared.length, row: setup.rows[i]!.name });
        await p.sample(cfg.seed, classesOfBatch(0, cfg.batch, setup.classes));
      }
    }
    for (let j = first; j < batches; j++) {
      const classes = classesOfBatch(j, cfg.batch, setup.classes);
      for (const [i, p] of prepared.entries()) {
        progress({ phase: 'sample', done: j * prepared.length + i, total: batches * prepared.length, row: setup.rows[i]!.name });
        const r = await p.sample(cfg.seed + j, classes);
        parts[i]!.push(r.images);
        seconds[i]! += r.seconds;
      }
      store?.append(parts.map((p) => p[j]!), j + 1, seconds);
    }
    progress({ phase: 'sample', done: batches * prepared.length, total: batches * prepared.length });

    const images = parts.map((p) => concatImages(p, cfg.samples));
    const classes = Array.from({ length: batches }, (_, j) => classesOfBatch(j, cfg.batch, setup.classes)).flat().slice(0, cfg.samples);
    const why = classifierMetricsUnavailable(setup.imageShape, setup.classes);
    const wantFid = cfg.fid ?? true;
    if (why) notes.push(why);
    else if (wantFid && cfg.samples < 2) notes.push('FID needs at least 2 samples (a covariance); only accuracy is reported');
    else if (wantFid && cfg.samples < 1000) notes.push(`FID from ${cfg.samples} samples is biased upward; compare rows with each other, and see docs/metrics.md for the floor at this N`);
    const metrics = new ClassifierMetrics(cfg.classifier, cfg.referenceStats);
    const features: Float64Array[] = [];
    const scored = setup.rows.map((row, i) => {
      progress({ phase: 'metrics', done: i, total: setup.rows.length, row: row.name });
      let fid: number | null = null;
      let accuracy: number | null = null;
      if (!why) {
        if (wantFid && cfg.samples >= 2) {
          const s = metrics.scores(images[i]!, classes);
          ({ fid, accuracy } = s);
          features.push(s.features);
        } else accuracy = metrics.accuracy(images[i]!, classes);
      }
      return { fid, accuracy };
    });
    const reps = cfg.bootstrap ?? 0;
    let boot: FidBootstrap | undefined;
    if (reps > 0 && features.length === setup.rows.length) {
      boot = bootstrapFid(features, cfg.samples, FEATURE_DIM, metrics.reference(), reps, cfg.seed, (done) => progress({ phase: 'bootstrap', done, total: reps }));
    } else if (reps > 0) notes.push('no FID bootstrap: FID is not computed for these images');
    const rows: EvalRow[] = setup.rows.map((row, i) => {
      const { fid, accuracy } = scored[i]!;
      const p = prepared[i]!;
      return {
        name: row.name,
        schedule: row.schedule?.name ?? 'none',
        images: images[i]!,
        classes,
        seconds: seconds[i]!,
        speedup: seconds[0]! / seconds[i]!,
        predictedSpeedup: p.predictedSpeedup,
        flopsRatio: p.flopsRatio,
        fid,
        fidSd: boot ? boot.sd[i]! : null,
        fidDelta: boot ? boot.delta[i]! : null,
        accuracy,
        ...fidelityToBaseline(images[i]!, images[0]!),
      };
    });
    return {
      model: cfg.model ?? setup.graph.model,
      modelFile: cfg.modelFile,
      steps: cfg.steps,
      sampler: cfg.sampler,
      cfgScale: cfg.cfgScale ?? null,
      samples: cfg.samples,
      batch: cfg.batch,
      seed: cfg.seed,
      classCount: setup.classes,
      device: backend.label,
      warmup,
      bootstrap: boot ? reps : null,
      rows,
      notes,
    };
  } finally {
    for (const p of prepared) p.destroy();
    ownGpu?.device.destroy();
  }
}
