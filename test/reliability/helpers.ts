/** Shared by the reliability suites: a temporary folder and the CLI's main() called in this process. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../tools/fuzz/harness.ts';

export function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'ditto-reliability-'));
}

/** `ditto ARGS` in-process: exit code and stderr. */
export async function ditto(...args: string[]): Promise<{ exit: number; err: string; out: string }> {
  const r = await runCli(args);
  return { exit: r.exit, err: r.err, out: r.out };
}
