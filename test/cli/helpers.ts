/** Runs the real `ditto` executable as a child process, the way a user would. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DITTO = path.join(ROOT, 'bin/ditto.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runDitto(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): RunResult {
  const r = spawnSync(process.execPath, [DITTO, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A user-facing error: exit 1, an `error[…]` line, and no stack trace. */
export function looksLikeUserError(r: RunResult): boolean {
  return r.code === 1 && /error(\[E_[A-Z_]+\])?:/.test(r.stderr) && !/\n\s+at .+\(.+:\d+:\d+\)/.test(r.stderr);
}
