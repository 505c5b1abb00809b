/**
 * `ditto eval … --queue redis://HOST:PORT --shards N`: the evaluation cut into N shards, each a
 * BullMQ job that any `ditto worker` on the same Redis samples; the results come back through Redis
 * (each job's return value), are written as shard folders under `<outDir>/shards/`, and merged
 * (merge.ts) once every shard is in. The folders stay, so `ditto eval --merge` can re-score them.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Job, Queue } from 'bullmq';
import { DittoError } from '../../../core/errors.ts';
import { checkConfig, evalSettings } from '../evaluate.ts';
import { mergeEvalShardDirs, type MergeOptions } from '../merge.ts';
import { setupEval } from '../setup.ts';
import { shardBatches, type ShardSpec } from '../shard.ts';
import { decodeShard, writeShard, type EncodedShard } from '../shardFiles.ts';
import type { EvalConfig, EvalReport } from '../types.ts';
import { EVAL_QUEUE, showRedis, type RedisTarget } from './connection.ts';
import { errorFromReason, type ShardJobConfig, type ShardJobData, type ShardJobProgress } from './jobs.ts';

export interface QueueProgress {
  shardsDone: number;
  shards: number;
  samplesDone: number;
  samples: number;
  /** Seconds since the jobs were queued. */
  elapsed: number;
  /** Estimated seconds left, once any sample is done; null before. */
  left: number | null;
}

export interface QueueRunOptions extends MergeOptions {
  connection: RedisTarget;
  shards: number;
  /** Shard folders go to `<outDir>/shards/shard-<i>-of-<N>`. */
  outDir: string;
  /** Milliseconds between looks at the jobs (default 500). */
  pollMs?: number;
  onQueueProgress?: (p: QueueProgress) => void;
}

/** The shard folder of shard i of N under `outDir`. */
export function shardDir(outDir: string, s: ShardSpec): string {
  return path.join(outDir, 'shards', `shard-${s.index}-of-${s.count}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seconds to wait for Redis before saying it cannot be reached (ioredis would retry forever). */
export const CONNECT_TIMEOUT_S = 15;

/** `ready`, or an E_IO error naming the server when it does not come within CONNECT_TIMEOUT_S. */
export async function reachable<T>(ready: Promise<T>, target: RedisTarget): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_S} s`)), CONNECT_TIMEOUT_S * 1000);
  });
  try {
    return await Promise.race([ready, late]);
  } catch (e) {
    throw new DittoError('E_IO', `cannot reach the queue at ${showRedis(target)}: ${(e as Error).message}; is redis-server running there?`);
  } finally {
    clearTimeout(timer);
  }
}

/** Queues the shards of `cfg` (weights named by cfg.weightsFile, which workers load), waits for them and merges. */
export async function runEvalOnQueue(cfg: EvalConfig, opts: QueueRunOptions): Promise<EvalReport> {
  checkConfig(cfg);
  for (let i = 0; i < opts.shards; i++) shardBatches({ index: i, count: opts.shards }, cfg.samples, cfg.batch);
  const setup = setupEval({ modelFile: cfg.modelFile, model: cfg.model, set: cfg.set, schedules: cfg.schedules, steps: cfg.steps, sampler: cfg.sampler, batch: cfg.batch, cfg: cfg.cfgScale !== undefined });
  const config: ShardJobConfig = {
    modelFile: cfg.modelFile,
    ...(cfg.model !== undefined ? { model: cfg.model } : {}),
    ...(cfg.set !== undefined ? { set: cfg.set } : {}),
    weightsFile: cfg.weightsFile,
    schedules: [...cfg.schedules],
    samples: cfg.samples,
    steps: cfg.steps,
    sampler: cfg.sampler,
    ...(cfg.cfgScale !== undefined ? { cfgScale: cfg.cfgScale } : {}),
    batch: cfg.batch,
    seed: cfg.seed,
    device: cfg.device,
    ...(cfg.warmup !== undefined ? { warmup: cfg.warmup } : {}),
  };
  const expect = evalSettings(cfg, setup);
  const run = randomUUID();
  const specs: ShardSpec[] = Array.from({ length: opts.shards }, (_, index) => ({ index, count: opts.shards }));
  const queue = new Queue<ShardJobData, EncodedShard>(EVAL_QUEUE, { connection: opts.connection, streams: { events: { maxLen: 100 } } });
  queue.on('error', () => undefined);
  try {
    await reachable(queue.waitUntilReady(), opts.connection);
    const jobs = await queue.addBulk(
      specs.map((shard) => ({
        name: `shard ${shard.index}/${shard.count}`,
        data: { run, shard, config, expect },
        // A shard that fails with an error other than a bad file gets one more try; a dead worker's
        // shard is recovered by BullMQ's stalled-job check (worker.ts), not by this count.
        opts: { jobId: `${run}-${shard.index}`, attempts: 2, removeOnComplete: false, removeOnFail: false },
      })),
    );
    const t0 = performance.now();
    const dirs: (string | undefined)[] = specs.map(() => undefined);
    const sizes = specs.map((s) => {
      const r = shardBatches(s, cfg.samples, cfg.batch);
      return Math.min(r.end * cfg.batch, cfg.samples) - r.first * cfg.batch;
    });
    let firstSampleAt: number | undefined;
    let samplesAtFirst = 0;
    for (;;) {
      let samplesDone = 0;
      for (const [i, spec] of specs.entries()) {
        if (dirs[i]) {
          samplesDone += sizes[i]!;
          continue;
        }
        // The state is read before the job: a job fetched first and then found 'completed' may have
        // finished in between, and its fetched copy would still hold no return value.
        const state = await queue.getJobState(jobs[i]!.id!);
        const job = await Job.fromId<ShardJobData, EncodedShard>(queue, jobs[i]!.id!);
        if (!job || state === 'unknown') throw new DittoError('E_IO', `shard ${spec.index}/${spec.count}: its job disappeared from ${showRedis(opts.connection)}`);
        if (state === 'completed') {
          const dir = shardDir(opts.outDir, spec);
          writeShard(dir, decodeShard(job.returnvalue, `the result of shard ${spec.index}/${spec.count}`));
          dirs[i] = dir;
          samplesDone += sizes[i]!;
          await job.remove().catch(() => undefined);
        } else if (state === 'failed') {
          throw errorFromReason(`shard ${spec.index}/${spec.count} failed on its worker`, job.failedReason ?? 'no reason given');
        } else {
          const p = job.progress as Partial<ShardJobProgress> | number;
          if (typeof p === 'object' && typeof p.samples === 'number') samplesDone += Math.min(p.samples, sizes[i]!);
        }
      }
      const now = performance.now();
      if (samplesDone > 0 && firstSampleAt === undefined) {
        firstSampleAt = now;
        samplesAtFirst = samplesDone;
      }
      const rate = firstSampleAt !== undefined && now > firstSampleAt && samplesDone > samplesAtFirst ? (samplesDone - samplesAtFirst) / (now - firstSampleAt) : 0;
      const shardsDone = dirs.filter(Boolean).length;
      opts.onQueueProgress?.({
        shardsDone,
        shards: specs.length,
        samplesDone,
        samples: cfg.samples,
        elapsed: (now - t0) / 1000,
        left: rate > 0 ? (cfg.samples - samplesDone) / rate / 1000 : null,
      });
      if (shardsDone === specs.length) break;
      await sleep(opts.pollMs ?? 500);
    }
    return mergeEvalShardDirs(dirs as string[], opts);
  } finally {
    await queue.close();
  }
}
