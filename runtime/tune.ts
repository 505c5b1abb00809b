/**
 * `ditto tune`: for each matmul kernel of a plan (each is one distinct shape + epilogue), time the
 * candidate variants on this adapter and keep the fastest; the plan records the choice
 * (compiler/plan/retune.ts). Before a candidate may win, its output on the timing data is compared
 * with the compiler's variant's output: a candidate that disagrees beyond the kernel tolerance is
 * reported and never chosen.
 *
 * The per-adapter cache (a JSON file, like onnxruntime's and TVM's tuning logs) maps
 * `adapter key → kernel key (the config without its variant) → variant`: `tune` reads it to skip kernels already timed on this
 * adapter and writes its choices back; `ditto run --tuning-cache` applies it to a plan at load time.
 */
import { existsSync } from 'node:fs';
import { DittoError } from '../core/errors.ts';
import { readTextOrThrow, writeFileAtomic } from '../core/files.ts';
import { cacheKey, canonicalJson, capsFromReport, emitMatmul, matmulCandidates, withMatmulVariant, type AdapterCaps, type EmittedKernel, type MatmulConfig, type MatmulVariant } from '../compiler/kernels/index.ts';
import { applyMatmulVariants, tunableKernels } from '../compiler/plan/retune.ts';
import type { AnyPlan, PlanTuning } from '../compiler/plan/types.ts';
import { dawnVersion, type GpuContext } from './device.ts';
import { benchData, runKernel, timeKernel, type HostArray } from './kernelRunner.ts';

export interface TuneOptions {
  /** Timed work per candidate, ms (the repetitions are chosen from a one-dispatch probe). Default 300. */
  budgetMs?: number;
  /** Time at most this many candidates per kernel (the compiler's variant always among them). */
  maxCandidates?: number;
  /** A tuning cache file: read before timing, written after. */
  cacheFile?: string;
  /** Progress lines (one per kernel). */
  log?: (line: string) => void;
}

export interface TuneResult<P extends AnyPlan> {
  plan: P;
  tuning: PlanTuning;
}

/** What identifies an adapter for the cache: the same driver and Dawn give the same timings. */
export function adapterKey(gpu: GpuContext): string {
  const r = gpu.report;
  return [r.name, r.vendor, r.architecture, r.backend, `dawn.node ${dawnVersion()}`].join(' | ');
}

interface CacheEntry {
  variant: MatmulVariant;
  ms: number;
}

type CacheFile = { format: 'ditto-tuning-cache'; version: 1; adapters: Record<string, Record<string, CacheEntry>> };

export function readTuningCache(file: string): CacheFile {
  if (!existsSync(file)) return { format: 'ditto-tuning-cache', version: 1, adapters: {} };
  let data: unknown;
  try {
    data = JSON.parse(readTextOrThrow(file, 'tuning cache'));
  } catch (e) {
    if (e instanceof DittoError) throw e;
    throw new DittoError('E_INPUT', `${file}: the tuning cache is not valid JSON (${(e as Error).message})`);
  }
  const c = data as Partial<CacheFile>;
  if (!c || c.format !== 'ditto-tuning-cache' || c.version !== 1 || typeof c.adapters !== 'object' || c.adapters === null) {
    throw new DittoError('E_INPUT', `${file}: not a ditto tuning cache (expected {"format": "ditto-tuning-cache", "version": 1, …})`);
  }
  return c as CacheFile;
}

/** ms per dispatch with about `budgetMs` of timed work (after an untimed dispatch that pays the JIT). */
async function timeIt(gpu: GpuContext, k: EmittedKernel, data: Record<string, HostArray>, budgetMs: number): Promise<number> {
  const probe = await timeKernel(gpu, k, data, 1);
  const reps = Math.max(1, Math.min(20, Math.round(budgetMs / Math.max(probe, 0.01))));
  return Math.min(probe, await timeKernel(gpu, k, data, reps));
}

/** The kernel tolerance of the matmul tests, relative to the output's scale. */
export function agrees(ref: Float32Array, got: Float32Array): boolean {
  for (let i = 0; i < ref.length; i++) {
    const a = ref[i]!, b = got[i]!;
    if (!(Math.abs(a - b) <= 1e-4 + 1e-4 * Math.abs(a))) return false;
  }
  return true;
}

/** Times the candidates of one kernel; returns the fastest that agrees with the compiler's variant. */
async function tuneKernel(gpu: GpuContext, caps: AdapterCaps, config: MatmulConfig, opts: Required<Pick<TuneOptions, 'budgetMs'>> & TuneOptions) {
  const candidates = matmulCandidates(config, caps);
  const list = [config.variant, ...candidates.filter((v) => canonicalJson(v) !== canonicalJson(config.variant))].slice(0, opts.maxCandidates ?? Infinity);
  const base = emitMatmul(config);
  const data = benchData(base);
  const ref = (await runKernel(gpu, base, data)).c as Float32Array;
  let best = { variant: config.variant, ms: Infinity };
  let previousMs = Infinity;
  for (const v of list) {
    const kernel = emitMatmul(withMatmulVariant(config, v, caps));
    const same = canonicalJson(v) === canonicalJson(config.variant);
    if (!same && !agrees(ref, (await runKernel(gpu, kernel, data)).c as Float32Array)) {
      opts.log?.(`  ${canonicalJson(v)} disagrees with the compiler's variant beyond the kernel tolerance; not used`);
      continue;
    }
    const ms = await timeIt(gpu, kernel, data, opts.budgetMs);
    if (same) previousMs = ms;
    if (ms < best.ms) best = { variant: v, ms };
  }
  return { ...best, previousMs, candidates: list.length };
}

/**
 * Tunes `plan` on `gpu`. Kernels found in the cache for this adapter take the cached variant
 * without timing (when it still fits); the others are timed.
 */
export async function tunePlan<P extends AnyPlan>(gpu: GpuContext, plan: P, options: TuneOptions = {}): Promise<TuneResult<P>> {
  const opts = { budgetMs: 300, ...options };
  if (!(opts.budgetMs > 0)) throw new DittoError('E_USAGE', `tune: the time budget must be positive, got ${opts.budgetMs}`);
  if (opts.maxCandidates !== undefined && !(Number.isInteger(opts.maxCandidates) && opts.maxCandidates >= 1)) {
    throw new DittoError('E_USAGE', `tune: the candidate limit must be a positive integer, got ${opts.maxCandidates}`);
  }
  const caps = capsFromReport(gpu.report);
  const key = adapterKey(gpu);
  const cache = opts.cacheFile ? readTuningCache(opts.cacheFile) : null;
  const cached = cache?.adapters[key] ?? {};
  const { tunable, skipped } = tunableKernels(plan);
  const choices = new Map<number, MatmulVariant>();
  const kernels: PlanTuning['kernels'] = [];
  for (const [i, t] of tunable.entries()) {
    const pk = matmulProblemKey(t.config);
    const hit = cached[pk];
    if (hit && fits(t.config, hit.variant, caps)) {
      choices.set(t.kernel, hit.variant);
      kernels.push({ kernel: t.kernel, variant: hit.variant, previous: t.config.variant, ms: null, previousMs: null, candidates: 0, source: 'cache' });
      opts.log?.(`[${i + 1}/${tunable.length}] ${describe(t.config)}: from the cache`);
      continue;
    }
    const r = await tuneKernel(gpu, caps, t.config, opts);
    choices.set(t.kernel, r.variant);
    kernels.push({ kernel: t.kernel, variant: r.variant, previous: t.config.variant, ms: r.ms, previousMs: r.previousMs, candidates: r.candidates, source: 'timed' });
    cached[pk] = { variant: r.variant, ms: r.ms };
    opts.log?.(`[${i + 1}/${tunable.length}] ${describe(t.config)}: ${r.previousMs.toFixed(2)} → ${r.ms.toFixed(2)} ms (${r.candidates} candidates)`);
  }
  const tuning: PlanTuning = { adapter: key, kernels, skipped };
  if (cache && opts.cacheFile) {
    cache.adapters[key] = cached;
    writeFileAtomic(opts.cacheFile, JSON.stringify(cache, null, 1) + '\n');
  }
  return { plan: applyMatmulVariants(plan, choices, caps, tuning), tuning };
}

/** Applies the cache's choices for this adapter to a plan (no timing): `ditto run --tuning-cache`. */
export function applyTuningCache<P extends AnyPlan>(gpu: GpuContext, plan: P, cacheFile: string): P {
  const cache = readTuningCache(cacheFile);
  const caps = capsFromReport(gpu.report);
  const key = adapterKey(gpu);
  const cached = cache.adapters[key] ?? {};
  const { tunable, skipped } = tunableKernels(plan);
  const choices = new Map<number, MatmulVariant>();
  const kernels: PlanTuning['kernels'] = [];
  for (const t of tunable) {
    const hit = cached[matmulProblemKey(t.config)];
    if (!hit || !fits(t.config, hit.variant, caps)) continue;
    choices.set(t.kernel, hit.variant);
    kernels.push({ kernel: t.kernel, variant: hit.variant, previous: t.config.variant, ms: null, previousMs: null, candidates: 0, source: 'cache' });
  }
  if (choices.size === 0) return plan;
  return applyMatmulVariants(plan, choices, caps, { adapter: key, kernels, skipped });
}

/** The cache's kernel key: the kernel's config without the variant (the problem and its epilogue). */
export function matmulProblemKey(c: MatmulConfig): string {
  return cacheKey('matmul', { ...c, variant: undefined, maxWorkgroupsPerDimension: undefined });
}

function fits(config: MatmulConfig, v: MatmulVariant, caps: AdapterCaps): boolean {
  try {
    withMatmulVariant(config, v, caps);
    return true;
  } catch {
    return false;
  }
}

function describe(c: MatmulConfig): string {
  const epi = [c.siluInput && 'silu', c.bias && 'bias', c.gelu && 'gelu', c.gatedResidual && 'gate'].filter(Boolean).join('+');
  return `matmul ${c.M}×${c.N}×${c.K}${c.batch > 1 ? ` ×${c.batch}` : ''}${epi ? ` +${epi}` : ''}`;
}
