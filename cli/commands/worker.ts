/**
 * `ditto worker --queue redis://HOST:PORT`: sample eval shards queued by `ditto eval --queue`, one at
 * a time, until stopped (SIGINT/SIGTERM finish the shard in progress first). Thin:
 * evaluation/eval/queue/worker.ts does the work.
 */
import type { Command } from 'commander';
import { parseRedisUrl, showRedis } from '../../evaluation/eval/queue/connection.ts';
import { startEvalWorker, WORKER_DEFAULTS } from '../../evaluation/eval/queue/worker.ts';
import { parseIntFlag } from '../options.ts';

interface WorkerFlags {
  queue: string;
  lockDuration: string;
  stalledInterval: string;
  maxStalled: string;
  jobs?: string;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('sample the eval shards queued with `ditto eval --queue` on this machine\'s GPU, until stopped')
    .requiredOption('--queue <redis-url>', 'the Redis the shards are queued on (redis://HOST:PORT)')
    .option('--lock-duration <s>', "seconds a shard's lock lasts unrenewed: how long a dead worker's shard waits before another worker retries it", String(WORKER_DEFAULTS.lockDuration))
    .option('--stalled-interval <s>', 'seconds between the checks for shards whose worker died', String(WORKER_DEFAULTS.stalledInterval))
    .option('--max-stalled <n>', 'times one shard may be recovered from dead workers before it fails', String(WORKER_DEFAULTS.maxStalledCount))
    .option('--jobs <n>', 'stop after this many shards (default: run until stopped)')
    .action(async (flags: WorkerFlags) => {
      const connection = parseRedisUrl(flags.queue);
      const lockDuration = parseIntFlag('--lock-duration', flags.lockDuration, 1, 86_400);
      const stalledInterval = parseIntFlag('--stalled-interval', flags.stalledInterval, 1, 86_400);
      const maxStalledCount = parseIntFlag('--max-stalled', flags.maxStalled, 0, 1000);
      const jobs = flags.jobs !== undefined ? parseIntFlag('--jobs', flags.jobs, 1) : undefined;
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const worker = await startEvalWorker({ connection, lockDuration, stalledInterval, maxStalledCount, log });
      log(`worker ${process.pid} waiting for eval shards on ${showRedis(connection)}`);
      await new Promise<void>((resolve) => {
        const stop = (why: string) => {
          log(`${why}: finishing the shard in progress, then stopping`);
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
        if (jobs !== undefined) void worker.jobsDone(jobs).then(() => stop(`${jobs} shard${jobs === 1 ? '' : 's'} done`));
      });
      await worker.close();
      log('worker stopped');
    });
}
