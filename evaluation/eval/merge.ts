/**
 * `ditto eval --merge DIR…`: the shards of one evaluation scored as one.
 *
 * The shards must be one evaluation: the same settings (model graph, weights digest, schedules and
 * their tables, steps, sampler, CFG, batch, seed, device), the same plan per row, the same total
 * sample count, and index ranges that tile [0, samples) exactly — no overlap, no gap. Anything
 * else is refused with every problem named, shard by shard. Shard counts need not agree: ranges
 * are what matter, and image g is the same whichever shard sampled it.
 *
 * The union is then scored by `scoreEval`, the function a single-process eval ends with, on the
 * images and classifier outputs in global index order: FID, accuracy, PSNR/SSIM and the bootstrap
 * come out bit-identical. Speed-ups use each row's seconds summed over the shards.
 */
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import type { ClassifierOutput } from '../metrics/classifier.ts';
import type { FeatureStats } from '../metrics/fid.ts';
import { settingsDifferences } from './progressStore.ts';
import { concatImages, scoreEval } from './score.ts';
import type { ShardResult } from './shard.ts';
import { readShard } from './shardFiles.ts';
import type { EvalProgress, EvalReport } from './types.ts';

export interface NamedShard {
  /** Shown in messages: the shard's folder, or its queue job. */
  where: string;
  shard: ShardResult;
}

export interface MergeOptions {
  bootstrap?: number;
  fid?: boolean;
  referenceStats?: FeatureStats;
  onProgress?: (p: EvalProgress) => void;
}

const range = (s: NamedShard) => `${s.where} (samples ${s.shard.meta.samples.first}–${s.shard.meta.samples.end - 1})`;
const short = (h: string) => `${h.slice(0, 12)}…`;

/** Every reason `shards` are not one evaluation; empty when they are. */
export function mergeProblems(shards: readonly NamedShard[]): string[] {
  const problems: string[] = [];
  const first = shards[0]!;
  const a = first.shard.meta;
  for (const s of shards.slice(1)) {
    const b = s.shard.meta;
    const differ = settingsDifferences(a.settings, b.settings, first.where, s.where);
    if (a.totalSamples !== b.totalSamples) differ.push(`samples: ${first.where} ${a.totalSamples}, ${s.where} ${b.totalSamples}`);
    if (a.plans.length === b.plans.length) {
      for (const [r, p] of a.plans.entries()) {
        if (p !== b.plans[r]) differ.push(`plan of row '${a.report.rows[r]!.name}': ${first.where} ${short(p)}, ${s.where} ${short(b.plans[r]!)}`);
      }
    }
    if (differ.length) problems.push(`${s.where} was sampled with other settings than ${first.where} — ${differ.join('; ')}`);
  }
  if (problems.length) return problems;
  const total = a.totalSamples;
  const sorted = [...shards].sort((x, y) => x.shard.meta.samples.first - y.shard.meta.samples.first || x.shard.meta.samples.end - y.shard.meta.samples.end);
  let covered = 0;
  let last: NamedShard | undefined;
  for (const s of sorted) {
    const { first: lo, end: hi } = s.shard.meta.samples;
    if (hi > total) problems.push(`${range(s)} runs past the evaluation's ${total} samples`);
    if (lo > covered) problems.push(`samples ${covered}–${lo - 1} are in no shard (a gap ${last ? `between ${range(last)} and ${range(s)}` : `before ${range(s)}`})`);
    else if (lo < covered && last) problems.push(`${range(last)} and ${range(s)} overlap in samples ${lo}–${Math.min(covered, hi) - 1}`);
    if (hi > covered) {
      covered = hi;
      last = s;
    }
  }
  if (covered < total) problems.push(`samples ${covered}–${total - 1} are in no shard (a gap after ${range(last!)})`);
  return problems;
}

/** The shards' images of one row, in index order. */
function concatImagesOf(parts: Tensor[]): Tensor {
  return concatImages(parts, parts.reduce((a, p) => a + p.shape[0]!, 0));
}

function concatOutputs(parts: ClassifierOutput[]): ClassifierOutput {
  const cat = (arrays: Float64Array[]) => {
    const out = new Float64Array(arrays.reduce((a, x) => a + x.length, 0));
    let o = 0;
    for (const x of arrays) {
      out.set(x, o);
      o += x.length;
    }
    return out;
  };
  return { n: parts.reduce((a, p) => a + p.n, 0), features: cat(parts.map((p) => p.features)), logits: cat(parts.map((p) => p.logits)) };
}

/** Scores the union of `shards` as one evaluation, or refuses them naming every problem. */
export function mergeEvalShards(shards: readonly NamedShard[], opts: MergeOptions = {}): EvalReport {
  if (shards.length === 0) throw new DittoError('E_USAGE', '--merge needs at least one shard folder');
  const problems = mergeProblems(shards);
  if (problems.length) throw new DittoError('E_INPUT', `the shards are not one evaluation:\n  - ${problems.join('\n  - ')}`);
  const sorted = [...shards].sort((x, y) => x.shard.meta.samples.first - y.shard.meta.samples.first);
  const meta = sorted[0]!.shard.meta;
  const rows = meta.plans.length;
  const settings = meta.settings;
  const classified = sorted.every((s) => s.shard.classified) ? Array.from({ length: rows }, (_, r) => concatOutputs(sorted.map((s) => s.shard.classified![r]!))) : undefined;
  const seconds = Array.from({ length: rows }, (_, r) => sorted.reduce((a, s) => a + s.shard.meta.seconds[r]!, 0));
  const counts = [...new Set(sorted.map((s) => s.shard.meta.shard.count))];
  const notes = [
    `merged from ${sorted.length} shard${sorted.length === 1 ? '' : 's'} (${counts.map((c) => `of ${c}`).join(', ')}); speed-ups from each row's seconds summed over the shards, every shard timing its rows interleaved on its own machine`,
  ];
  return scoreEval({
    header: {
      model: meta.report.model,
      modelFile: meta.report.modelFile,
      steps: Number(settings.steps),
      sampler: settings.sampler as 'ddpm' | 'ddim',
      cfgScale: meta.report.cfgScale,
      samples: meta.totalSamples,
      batch: Number(settings.batch),
      seed: Number(settings.seed),
      classCount: meta.report.classCount,
      device: String(settings.device),
      warmup: sorted.every((s) => s.shard.meta.report.warmup),
    },
    imageShape: meta.report.imageShape,
    rows: meta.report.rows.map((row, r) => ({ ...row, images: concatImagesOf(sorted.map((s) => s.shard.images[r]!)), seconds: seconds[r]! })),
    classified,
    notes,
    ...(opts.fid !== undefined ? { fid: opts.fid } : {}),
    ...(opts.bootstrap !== undefined ? { bootstrap: opts.bootstrap } : {}),
    ...(opts.referenceStats ? { referenceStats: opts.referenceStats } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
}

/** mergeEvalShards over shard folders written by `ditto eval --shard` (writeShard). */
export function mergeEvalShardDirs(dirs: readonly string[], opts: MergeOptions = {}): EvalReport {
  if (dirs.length === 0) throw new DittoError('E_USAGE', '--merge needs at least one shard folder');
  return mergeEvalShards(
    dirs.map((d) => ({ where: d, shard: readShard(d) })),
    opts,
  );
}
