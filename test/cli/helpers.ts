/**
 * Running the CLI from tests: the real `ditto` executable as a child process, the way a user would
 * (runDitto), or one command registered on a fresh commander program in this process (runInProcess).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Command } from 'commander';
import { vi } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DITTO = path.join(ROOT, 'bin/ditto.js');

/** A two-block DiT small enough that a CLI test compiles (and runs) it in a second or two. */
export const TINY_DIT_SET = 'latent=8,patch=2,hidden=32,depth=2,heads=4,classes=10';
/** The CLI flags that pick it from models/dit.ditto. */
export const TINY_DIT = ['--model', 'DiT', '--set', TINY_DIT_SET];

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runDitto(args: string[], env: Record<string, string> = {}, timeoutMs = 600_000): RunResult {
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

/**
 * Runs `ditto <args>` in this process with only the commands `register` adds, and returns what
 * they printed to stdout. Commander's exits become thrown errors (exitOverride), so a test can
 * assert on a usage failure instead of the process ending.
 */
export async function runInProcess(register: (program: Command) => void, args: string[]): Promise<string> {
  const program = new Command('ditto').exitOverride();
  register(program);
  for (const c of program.commands) c.exitOverride();
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}
