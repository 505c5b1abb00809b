/**
 * The fuzz harness's common parts: a seeded generator per case, the CLI called in-process with its
 * output captured, and the classification of one outcome against the error contract (exit 0, 1 or
 * 2; slower than the hang limit; an input file changed; exit 0 with a non-finite or all-zero
 * output).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { uniformStream } from '../../core/random.ts';

/**
 * A case that takes more than this much CPU time is a hang (the limit). CPU time of this
 * process, not wall time: the machine is shared, and a case waiting for a core is not hanging.
 */
export const HANG_MS = 10_000;
/**
 * GPU runs on the software GPU (lavapipe) JIT-compile every pipeline in each fresh process and
 * take tens of seconds on a loaded machine: their limit is wider, and documented with the figures.
 */
export const GPU_HANG_MS = 120_000;

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = uniformStream(seed >>> 0);
  }
  float(): number {
    return this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
}

/** The seed of case `i` of a campaign: every case can be replayed alone from (seed, kind, i). */
export function caseSeed(seed: number, kind: string, i: number): number {
  return createHash('sha256').update(`${seed}:${kind}:${i}`).digest().readUInt32LE(0);
}

export type Verdict = 'ok' | 'user-error' | 'internal-error' | 'hang' | 'overwrote-input' | 'wrong-exit-0';

/** CPU milliseconds (user + system) this process has used. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export interface Outcome {
  verdict: Verdict;
  exit: number;
  /** CPU milliseconds the case used. */
  ms: number;
  detail?: string;
}

export const FAILURES: readonly Verdict[] = ['internal-error', 'hang', 'overwrote-input', 'wrong-exit-0'];

let loadedMain: ((argv: string[]) => Promise<number>) | undefined;

async function cliMain(): Promise<(argv: string[]) => Promise<number>> {
  loadedMain ??= (await import('../../cli/main.ts')).main;
  return loadedMain;
}

/** Runs `ditto ARGS` in this process; returns the exit code and what it printed (capped). */
export async function runCli(args: string[]): Promise<{ exit: number; out: string; err: string; ms: number; wallMs: number }> {
  const main = await cliMain();
  let out = '';
  let err = '';
  const cap = (s: string, add: unknown) => (s.length < 20_000 ? s + String(add) : s);
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  process.stdout.write = ((c: unknown) => ((out = cap(out, c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: unknown) => ((err = cap(err, c)), true)) as typeof process.stderr.write;
  const t0 = performance.now();
  const c0 = cpuMs();
  let exit: number;
  try {
    exit = await main(['node', 'ditto', ...args]);
  } catch (e) {
    // main never throws by contract; if it does, that is an internal error.
    err += `main threw: ${(e as Error).message}`;
    exit = 2;
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  return { exit, out, err, ms: cpuMs() - c0, wallMs: performance.now() - t0 };
}

/** sha256 of each file that exists, to find a changed input afterwards. */
export function snapshot(files: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of files) if (existsSync(f)) m.set(f, createHash('sha256').update(readFileSync(f)).digest('hex'));
  return m;
}

export function changedSince(before: Map<string, string>): string | undefined {
  for (const [f, h] of before) {
    const now = existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex') : 'gone';
    if (now !== h) return f;
  }
  return undefined;
}

/**
 * One CLI case: run it, then classify. `inputs` must be unchanged afterwards; `checkOutput` (on
 * exit 0) returns a reason when the output is wrong.
 */
export async function cliCase(args: string[], inputs: readonly string[], checkOutput?: () => string | undefined, hangMs = HANG_MS): Promise<Outcome> {
  const before = snapshot(inputs);
  const r = await runCli(args);
  const changed = changedSince(before);
  if (changed) return { verdict: 'overwrote-input', exit: r.exit, ms: r.ms, detail: changed };
  if (r.ms > hangMs) return { verdict: 'hang', exit: r.exit, ms: r.ms, detail: `${(r.ms / 1000).toFixed(1)} s` };
  if (r.exit === 2 || (r.exit !== 0 && r.exit !== 1)) return { verdict: 'internal-error', exit: r.exit, ms: r.ms, detail: r.err.slice(0, 400) };
  if (r.exit === 0 && checkOutput) {
    const why = checkOutput();
    if (why) return { verdict: 'wrong-exit-0', exit: 0, ms: r.ms, detail: why };
  }
  return { verdict: r.exit === 0 ? 'ok' : 'user-error', exit: r.exit, ms: r.ms };
}

/** A library call that must return or throw a DittoError that is not E_INTERNAL. */
export function libraryCase(fn: () => void): Outcome {
  const t0 = cpuMs();
  try {
    fn();
  } catch (e) {
    const ms = cpuMs() - t0;
    const code = (e as { code?: string }).code;
    const ditto = (e as { name?: string }).name === 'DittoError';
    if (ditto && code !== 'E_INTERNAL') return ms > HANG_MS ? { verdict: 'hang', exit: 1, ms, detail: `${(ms / 1000).toFixed(1)} s` } : { verdict: 'user-error', exit: 1, ms };
    return { verdict: 'internal-error', exit: 2, ms, detail: `${(e as Error).name}: ${(e as Error).message}`.slice(0, 400) };
  }
  const ms = cpuMs() - t0;
  return ms > HANG_MS ? { verdict: 'hang', exit: 0, ms, detail: `${(ms / 1000).toFixed(1)} s` } : { verdict: 'ok', exit: 0, ms };
}
