/**
 * `ditto worker --queue redis://HOST:PORT`: takes eval shards from the BullMQ queue, one at a time,
 * samples each in a child process (`ditto eval … --shard i/N`) and hands it back as the job's
 * result (encodeShard: images, classifier outputs, settings, plan hashes, seconds).
 *
 * Why a child process: BullMQ keeps a job by renewing its lock from a timer, and a batch on the
 * reference executor or the classifier over a shard holds the event loop for seconds (minutes
 * under load). In the child, that work cannot delay the renewals; the worker process only waits.
 * The child exits when its worker goes away (the IPC channel closes), so a killed worker leaves
 * nothing running.
 *
 * A worker that dies (killed, machine lost) stops renewing; after `lockDuration` a live worker's
 * stalled-job check (every `stalledInterval`) puts the shard back in the queue and another worker
 * samples it again from the start. A shard's result is one job's return value, so a retried shard
 * is never counted twice.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packagePath } from '../../../core/packageRoot.ts';
import { readShard, encodeShard, type EncodedShard } from '../shardFiles.ts';
import { EVAL_QUEUE, type RedisTarget } from './connection.ts';
import { reachable } from './submit.ts';
import type { ShardJobConfig, ShardJobData, ShardJobProgress } from './jobs.ts';

/** The `ditto` command of this package (sources in a checkout, dist/ in an installed package). */
const DITTO_BIN = packagePath('bin', 'ditto.js');

export const WORKER_DEFAULTS = {
  /** Seconds a shard's lock lasts unrenewed: how long a dead worker's shard waits before a retry. */
  lockDuration: 60,
  /** Seconds between the checks for shards whose lock expired. */
  stalledInterval: 15,
  /** Times a shard may be recovered from a dead worker before it fails. */
  maxStalledCount: 3,
};

export interface WorkerOptions {
  connection: RedisTarget;
  lockDuration?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
  /** One line per event (shard started, finished, failed). */
  log?: (line: string) => void;
}

export interface RunningWorker {
  /** Waits for the shard in progress, then disconnects. */
  close(): Promise<void>;
  /** Resolves once `count` shards finished (completed or failed) on this worker. */
  jobsDone(count: number): Promise<void>;
}

/** The `ditto eval … --shard i/N` command line of a job. */
export function shardArgs(c: ShardJobConfig, data: ShardJobData, outDir: string): string[] {
  return [
    'eval',
    c.modelFile,
    ...(c.model !== undefined ? ['--model', c.model] : []),
    ...(c.set !== undefined ? ['--set', Object.entries(c.set).map(([k, v]) => `${k}=${v}`).join(',')] : []),
    '--weights', c.weightsFile,
    '--schedules', c.schedules.join(','),
    '--samples', String(c.samples),
    '--steps', String(c.steps),
    '--sampler', c.sampler,
    ...(c.cfgScale !== undefined ? ['--cfg', String(c.cfgScale)] : []),
    '--batch', String(c.batch),
    '--seed', String(c.seed),
    '--device', c.device,
    ...(c.warmup === false ? ['--no-warmup'] : []),
    '--shard', `${data.shard.index}/${data.shard.count}`,
    '--out-dir', outDir,
    '--expect-settings', JSON.stringify(data.expect),
    '--ipc',
  ];
}

export async function startEvalWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const log = opts.log ?? (() => undefined);
  const process = async (job: Job<ShardJobData, EncodedShard>): Promise<EncodedShard> => {
    const { shard } = job.data;
    const name = `shard ${shard.index}/${shard.count} of run ${job.data.run.slice(0, 8)}`;
    log(`${name}: started (attempt ${job.attemptsStarted})`);
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-shard-'));
    try {
      const child = spawn(globalThis.process.execPath, [DITTO_BIN, ...shardArgs(job.data.config, job.data, dir)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      let stderr = '';
      child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)));
      child.on('message', (m: unknown) => {
        const p = m as Partial<ShardJobProgress>;
        if (typeof p?.samples === 'number') job.updateProgress({ samples: p.samples }).catch(() => undefined);
      });
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      if (exit.code !== 0) {
        const reason = /error\[(E_[A-Z_]+)\]: ([\s\S]*?)\s*$/.exec(stderr);
        if (exit.code === 1 && reason) {
          log(`${name}: failed: ${reason[1]}: ${reason[2]}`);
          // A bad file or setting fails the same way on every worker: no retry.
          throw new UnrecoverableError(`${reason[1]}: ${reason[2]}`);
        }
        const why = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
        log(`${name}: failed (${why})`);
        throw new Error(`the shard's process ended (${why}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
      }
      const result = readShard(dir);
      log(`${name}: done, samples ${result.meta.samples.first}–${result.meta.samples.end - 1} in ${result.meta.wallSeconds.toFixed(1)} s`);
      return encodeShard(result);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const worker = new Worker<ShardJobData, EncodedShard>(EVAL_QUEUE, process, {
    connection: opts.connection,
    concurrency: 1,
    lockDuration: 1000 * (opts.lockDuration ?? WORKER_DEFAULTS.lockDuration),
    stalledInterval: 1000 * (opts.stalledInterval ?? WORKER_DEFAULTS.stalledInterval),
    maxStalledCount: opts.maxStalledCount ?? WORKER_DEFAULTS.maxStalledCount,
  });
  let finished = 0;
  const waiters: { count: number; resolve: () => void }[] = [];
  const tick = () => {
    finished++;
    for (const w of waiters.filter((x) => finished >= x.count)) w.resolve();
  };
  worker.on('completed', tick);
  worker.on('failed', tick);
  worker.on('error', (e) => log(`worker error: ${e.message}`));
  try {
    await reachable(worker.waitUntilReady(), opts.connection);
  } catch (e) {
    await worker.close(true).catch(() => undefined);
    throw e;
  }
  return {
    close: () => worker.close(),
    jobsDone: (count) => (finished >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
  };
}
