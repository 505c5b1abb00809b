/**
 * `ditto eval --queue` and `ditto worker` on a real local Redis (redis-server on a free port):
 * three worker processes, one killed with SIGKILL in the middle of its shard; BullMQ's stalled-job
 * check hands that shard to another worker, and the merged result is bit-identical to a
 * single-process eval — no sample lost, none counted twice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Queue } from 'bullmq';
import { runEval } from '../../evaluation/eval/evaluate.ts';
import { parseRedisUrl } from '../../evaluation/eval/queue/connection.ts';
import { runEvalOnQueue, type QueueProgress } from '../../evaluation/eval/queue/submit.ts';
import { startEvalWorker } from '../../evaluation/eval/queue/worker.ts';
import { EVAL_QUEUE } from '../../evaluation/eval/queue/connection.ts';
import { readShard } from '../../evaluation/eval/shardFiles.ts';
import { randomWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { DittoError } from '../../core/errors.ts';
import type { EvalConfig } from '../../evaluation/eval/types.ts';
import { redisOrSkip } from '../helpers/redis.ts';
import { DITTO, ROOT } from '../cli/helpers.ts';
import { FMNIST, MODEL, scoreOf, tempDir, tinyConfig, writeRandomWeightsFile } from './helpers.ts';

const redis = await redisOrSkip();
afterAll(async () => redis?.stop());

interface WorkerProcess {
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

/** `ditto worker` as a child process; a killed worker's shard is back in the queue 6 s after its last renewal. */
function spawnWorker(url: string): WorkerProcess {
  const child = spawn(process.execPath, [DITTO, 'worker', '--queue', url, '--lock-duration', '6', '--stalled-interval', '1', '--max-stalled', '5'], {
    cwd: ROOT,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const w: WorkerProcess = { child, log: '', exited: new Promise((resolve) => child.once('exit', () => resolve())) };
  child.stderr!.on('data', (b: Buffer) => (w.log += b.toString()));
  return w;
}

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 1_200_000) => {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe.skipIf(!redis)('eval on a BullMQ queue (real redis-server)', () => {
  it('finishes with one of three workers killed mid-shard, bit-identical to one process', async () => {
    const dir = tempDir();
    const weightsFile = writeRandomWeightsFile(dir);
    // 6 samples in batches of 1: 3 shards of 2 batches, so a shard killed after its first batch is mid-shard.
    const cfg: EvalConfig = tinyConfig({ schedules: ['fora(N=2)'], steps: 2, samples: 6, batch: 1, weightsFile, bootstrap: 20 });
    // Each test has its own Redis database: no job of another test is taken.
    const url = `${redis!.url}/1`;
    const workers = [0, 1, 2].map(() => spawnWorker(url));
    const connection = parseRedisUrl(url);
    const progress: QueueProgress[] = [];
    let killed: { worker: WorkerProcess; shard: string } | undefined;
    try {
      const queued = runEvalOnQueue(cfg, { connection, shards: 3, outDir: path.join(dir, 'out'), pollMs: 100, onQueueProgress: (p) => progress.push(p), bootstrap: 20 });
      queued.catch(() => undefined);
      // Kill the first worker to start a shard once that shard has sampled a batch (of three).
      const watcher = new Queue(EVAL_QUEUE, { connection });
      try {
        let started: { worker: WorkerProcess; shard: string } | undefined;
        await until('a worker to start a shard', () => {
          for (const w of workers) {
            const m = /shard (\d+\/\d+) of run \w+: started/.exec(w.log);
            if (m) started = { worker: w, shard: m[1]! };
          }
          return started !== undefined;
        });
        await until('its first batch', async () => {
          const active = await watcher.getActive();
          return active.some((j) => `${j.data.shard.index}/${j.data.shard.count}` === started!.shard && ((j.progress as { samples?: number }).samples ?? 0) > 0);
        });
        started!.worker.child.kill('SIGKILL');
        killed = started;
      } finally {
        await watcher.close();
      }
      const report = await queued;
      const single = await runEval(cfg);
      expect(scoreOf(report)).toEqual(scoreOf(single));
      // The killed worker never finished its shard; another worker did, and each shard came back once.
      expect(killed!.worker.log).not.toMatch(new RegExp(`shard ${killed!.shard} of run \\w+: done`));
      const others = workers.filter((w) => w !== killed!.worker).map((w) => w.log).join('');
      expect(others).toMatch(new RegExp(`shard ${killed!.shard} of run \\w+: done`));
      const ranges = [0, 1, 2].map((i) => readShard(path.join(dir, 'out', 'shards', `shard-${i}-of-3`)).meta.samples);
      expect(ranges).toEqual([
        { first: 0, end: 2 },
        { first: 2, end: 4 },
        { first: 4, end: 6 },
      ]);
      // Progress on the submitting side: never more samples than exist, ending at all shards done.
      expect(progress.every((p) => p.samplesDone <= p.samples && p.shardsDone <= p.shards)).toBe(true);
      expect(progress.at(-1)).toMatchObject({ shardsDone: 3, shards: 3, samplesDone: 6, samples: 6 });
      expect(progress.some((p) => p.left !== null && p.shardsDone < 3)).toBe(true);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${workers.map((w, i) => `worker ${i}:\n${w.log}`).join('\n')}`, { cause: e });
    } finally {
      // SIGKILL: a worker stopped gently would first finish a shard nobody waits for.
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.exited));
    }
  }, 1_800_000);

  it('fails a shard whose worker has other weights than the submitter, naming the difference', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'other.safetensors');
    writeSafetensors(file, randomWeights(graphWeights(lowerModel(loadProgram(FMNIST), { model: MODEL, batch: 1 })), 12));
    const url = `${redis!.url}/2`;
    const worker = await startEvalWorker({ connection: parseRedisUrl(url), lockDuration: 30, stalledInterval: 5 });
    try {
      // The submitter holds seed-11 weights and names a file that holds seed-12 weights.
      const run = runEvalOnQueue(tinyConfig({ schedules: ['fora(N=2)'], steps: 2, samples: 2, weightsFile: file }), { connection: parseRedisUrl(url), shards: 1, outDir: path.join(dir, 'out'), pollMs: 100 });
      const e = await run.then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(DittoError);
      expect((e as DittoError).code).toBe('E_USAGE');
      expect((e as DittoError).message).toMatch(/shard 0\/1 failed on its worker: .*weights: submitted [0-9a-f]{12}…, here [0-9a-f]{12}…/);
    } finally {
      await worker.close();
    }
  }, 900_000);

  it('says so when the queue cannot be reached, and refuses a bad URL', async () => {
    expect(() => parseRedisUrl('http://localhost:1')).toThrow(/only redis:\/\/ URLs/);
    expect(() => parseRedisUrl('localhost:6379')).toThrow(DittoError);
    expect(() => parseRedisUrl('redis://h:1/x')).toThrow(/database number/);
    expect(parseRedisUrl('redis://:pw@example:7000/2')).toMatchObject({ host: 'example', port: 7000, db: 2, password: 'pw' });
    // A port nothing listens on: the server was just stopped.
    const r = await redisOrSkip();
    const url = r!.url;
    await r!.stop();
    const e = await runEvalOnQueue(tinyConfig({ samples: 2 }), { connection: parseRedisUrl(url), shards: 1, outDir: tempDir() }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(DittoError);
    expect((e as DittoError).message).toMatch(/cannot reach the queue at redis:\/\/127\.0\.0\.1:\d+/);
  }, 120_000);
});
