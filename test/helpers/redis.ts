/**
 * A real Redis for the queue suites: Debian's `redis-server` on 127.0.0.1, a free port and a temp
 * dir, no persistence. `const redis = await redisOrSkip()` at the top of a suite, then
 * `describe.skipIf(!redis)(…)` and `redis.stop()` in afterAll. Without redis-server the suite is
 * skipped with a loud message; with CI=true that is a failure (.ci/run installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'vitest';
import { inCI } from './gpu.ts';

export interface LocalRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts redis-server; resolves once it accepts connections. */
async function start(): Promise<LocalRedis> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ditto-redis-'));
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = await new Promise<boolean>((resolve) => {
      let out = '';
      const onData = (b: Buffer) => {
        out += b.toString();
        if (/Ready to accept connections/.test(out)) resolve(true);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', () => {
        lastError = out.slice(-500);
        resolve(false);
      });
    });
    if (!ready) continue;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      stop: async () => {
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited;
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server did not start: ${lastError}`);
}

export async function redisOrSkip(): Promise<LocalRedis | undefined> {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return start();
  const why = `redis-server is not installed (${found.error?.message ?? found.stderr}); Debian: apt-get install redis-server`;
  if (inCI()) {
    it('has redis-server (CI=true requires it)', () => {
      throw new Error(`CI=true but ${why}`);
    });
  } else {
    console.warn('\n' + '!'.repeat(78) + `\n!! REDIS TESTS SKIPPED: ${why}\n` + '!'.repeat(78) + '\n');
  }
  return undefined;
}
