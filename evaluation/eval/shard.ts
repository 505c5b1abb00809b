/**
 * One shard of an evaluation: `ditto eval … --shard i/N`.
 *
 * Shards are made of whole batches, and batch j is the same whatever process samples it (seed + j,
 * classes of images j·batch + k: evaluate.ts), so image g of every row has the same noise and class
 * whatever the number of shards and whichever machine samples it. Shard i of N takes batches
 * [⌊i·B/N⌋, ⌊(i+1)·B/N⌋) of the B batches: contiguous, in order, none shared, none left out.
 *
 * A shard keeps what scoring needs: every row's images (PSNR/SSIM pool their errors over all
 * images, so the merge recomputes them from pixels), the classifier's features and logits of each
 * image, the settings and plan hashes that decided the images, and the seconds per row.
 */
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import type { ClassifierOutput } from '../metrics/classifier.ts';
import { checkConfig, sampleRange, type BatchRange, type SampleOptions } from './evaluate.ts';
import type { ProgressSettings } from './progressStore.ts';
import { classifyRows } from './score.ts';
import type { EvalConfig } from './types.ts';

export interface ShardSpec {
  index: number;
  count: number;
}

/** `i/N` (0 ≤ i < N) as `--shard` takes it. */
export function parseShardSpec(text: string, flag = '--shard'): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new DittoError('E_USAGE', `${flag} expects i/N (shard i of N, counted from 0, e.g. 0/4), got '${text}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new DittoError('E_USAGE', `${flag} ${text}: N must be at least 1`);
  if (index >= count) throw new DittoError('E_USAGE', `${flag} ${text}: shards are counted from 0, so i must be below N (${count - 1} is the last)`);
  return { index, count };
}

/** The batches of shard `spec` of an evaluation with `samples` images in batches of `batch`. */
export function shardBatches(spec: ShardSpec, samples: number, batch: number): BatchRange {
  const batches = Math.ceil(samples / batch);
  if (spec.count > batches) {
    throw new DittoError('E_USAGE', `--shard ${spec.index}/${spec.count}: ${samples} samples in batches of ${batch} are ${batches} batches, fewer than ${spec.count} shards (a shard is whole batches); use at most ${batches} shards or a smaller --batch`);
  }
  return { first: Math.floor((spec.index * batches) / spec.count), end: Math.floor(((spec.index + 1) * batches) / spec.count) };
}

/** Everything a shard records besides its pixels and classifier outputs (shard.json). */
export interface ShardMeta {
  shard: ShardSpec;
  /** Global image indices [first, end) this shard sampled. */
  samples: { first: number; end: number };
  batches: BatchRange;
  /** The evaluation's total --samples. */
  totalSamples: number;
  /** Every setting that decides the images (model graph, weights digest, schedules, steps, …, device). */
  settings: ProgressSettings;
  /** Per row: what decided its images besides the noise (the compiled plan's hash on the GPU). */
  plans: string[];
  /** Report fields the merge needs and that do not decide images. */
  report: {
    model: string;
    modelFile: string;
    classCount: number;
    imageShape: [number, number, number];
    warmup: boolean;
    cfgScale: number | null;
    rows: { name: string; schedule: string; predictedSpeedup: number | null; flopsRatio: number | null }[];
  };
  /** Per row: timed seconds of this shard's batches. */
  seconds: number[];
  /** Wall-clock seconds the shard took from start to end (compile, warm-up, sampling, classifier). */
  wallSeconds: number;
}

export interface ShardResult {
  meta: ShardMeta;
  /** Per row: images [n, C, H, W] of the shard's samples. */
  images: Tensor[];
  /** Per row: the classifier's outputs on those images; undefined where the classifier does not apply. */
  classified: ClassifierOutput[] | undefined;
}

/** Samples shard `shard` of the evaluation `cfg` (cfg.samples is the whole evaluation's count). */
export async function runEvalShard(cfg: EvalConfig, shard: ShardSpec, opts: SampleOptions = {}): Promise<ShardResult> {
  const t0 = performance.now();
  checkConfig(cfg);
  if (cfg.resumeDir !== undefined) throw new DittoError('E_USAGE', '--resume and --shard do not combine: a shard is one short run; rerun a lost shard whole');
  const range = shardBatches(shard, cfg.samples, cfg.batch);
  const s = await sampleRange(cfg, range, opts);
  // Row by row with a pause in between: a queue worker renews its job's lock from timers (worker.ts).
  let classified: ClassifierOutput[] | undefined = [];
  for (const im of s.images) {
    const out = classifyRows([im], s.setup.imageShape, s.setup.classes, cfg.classifier);
    if (!out) {
      classified = undefined;
      break;
    }
    classified.push(out[0]!);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return {
    meta: {
      shard,
      samples: { first: range.first * cfg.batch, end: Math.min(range.end * cfg.batch, cfg.samples) },
      batches: range,
      totalSamples: cfg.samples,
      settings: s.settings,
      plans: s.rows.map((r) => r.planHash),
      report: {
        model: cfg.model ?? s.setup.graph.model,
        modelFile: cfg.modelFile,
        classCount: s.setup.classes,
        imageShape: s.setup.imageShape,
        warmup: s.warmup,
        cfgScale: cfg.cfgScale ?? null,
        rows: s.rows.map(({ planHash: _p, ...r }) => r),
      },
      seconds: s.seconds,
      wallSeconds: (performance.now() - t0) / 1000,
    },
    images: s.images,
    classified,
  };
}
