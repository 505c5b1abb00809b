/**
 * `npm run bench:kernels`: microbenchmarks of the kernels a DiT forward spends its time in, on the
 * current WebGPU adapter, at DiT-S, B and XL shapes (batch 2, 256 tokens), against
 *  - the adapter's measured peak: an FMA-bound calibration kernel (compiler/kernels/calibrate.ts)
 *    for GFLOP/s and a plain copy (the elementwise family) for GB/s;
 *  - onnxruntime-node's CPU matmul at the same shapes (what a Node user would pick otherwise).
 * Writes bench/results/kernels-<adapter>.md and .json.
 *
 *   npm run bench:kernels -- [--budget-ms 1500] [--ort-runs 5] [--out bench/results] [--sizes S,B,XL] [--dawn-toggle NAME]…
 *                            [--kinds matmul,attention,layernorm_modulate]
 *
 * Timing: `timeKernel` submits n dispatches in one pass after an untimed dispatch (which pays the
 * JIT); n is chosen from a one-dispatch probe so each kernel gets about --budget-ms of timed work
 * (so XL shapes get fewer repetitions), in three windows of which the best counts (the machine may
 * be shared). Figures are ms per dispatch.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { DittoError } from '../core/errors.ts';
import {
  calibrateFlops, capsFromReport, contiguousView, emitCalibrate, emitElementwise, ex, selectCalibrate, selectElementwise,
  type EmittedKernel,
} from '../compiler/kernels/index.ts';
import { createGpu, dawnVersion, type AdapterReport, type GpuContext } from '../runtime/device.ts';
import { benchData, benchValues, timeKernel, type HostArray } from '../runtime/kernelRunner.ts';
import { DIT_SIZES, KERNEL_KINDS, kernelCases, type DitSize, type KernelCase } from './kernelCases.ts';
import { matmulOnnx } from './peer/onnxMatmul.ts';
import { loadOrt, openSession, ortInfo } from './peer/onnxruntime.ts';
import { writeReport, type Report } from './report.ts';
import { gigaPerSecond, summarize } from './stats.ts';
import { REPO_ROOT } from './peer/ort.ts';
import { runIfMain } from './scriptMain.ts';

/** Timed windows per kernel: the best one is reported, as the peak is (other work on a shared machine only ever slows a window down). */
const WINDOWS = 3;

/**
 * ms per dispatch, with n picked from a probe so the timed part takes about `budgetMs` in all. With
 * `peak` (a short FMA calibration dispatch), every window is preceded by one, and `alongside` is the
 * best ratio of the kernel's FLOP rate to the calibration's right before it: on a shared machine whose
 * load moves, the fraction of what the adapter could do at that moment.
 */
async function timeWithBudget(gpu: GpuContext, k: EmittedKernel, data: Record<string, HostArray>, budgetMs: number, peak?: { kernel: EmittedKernel; flops: number; work: number }): Promise<{ ms: number; reps: number; firstMs: number; alongside: number | null }> {
  const t0 = performance.now();
  const probe = await timeKernel(gpu, k, data, 1);
  const firstMs = performance.now() - t0 - probe; // upload + JIT + first dispatch
  const reps = Math.max(1, Math.min(50, Math.round(budgetMs / WINDOWS / Math.max(probe, 0.01))));
  let ms = probe;
  let alongside: number | null = null;
  for (let w = 0; w < WINDOWS; w++) {
    const calMs = peak ? await timeKernel(gpu, peak.kernel, calibrationData(peak.kernel), 1) : 0;
    const t = await timeKernel(gpu, k, data, reps);
    ms = Math.min(ms, t);
    if (peak) alongside = Math.max(alongside ?? 0, (peak.work / t) / (peak.flops / calMs));
  }
  return { ms, reps: reps * WINDOWS, firstMs, alongside };
}

function calibrationData(k: EmittedKernel): Record<string, HostArray> {
  return { coef: new Float32Array([0.999, 0.001]), out: new Float32Array(k.bindings[1]!.elements) };
}

export interface Peak {
  gflops: number;
  gbps: number;
}

export async function measurePeak(gpu: GpuContext, budgetMs: number): Promise<Peak> {
  const caps = capsFromReport(gpu.report);
  const cal = selectCalibrate({}, caps);
  const calK = emitCalibrate(cal);
  const coef = new Float32Array([0.999, 0.001]);
  // A peak is the best the adapter did: best of three (a shared machine only ever slows it down).
  let fms = Infinity;
  for (let i = 0; i < 3; i++) fms = Math.min(fms, (await timeWithBudget(gpu, calK, { coef, out: new Float32Array(calK.bindings[1]!.elements) }, budgetMs / 3)).ms);
  const n = 1 << 23; // 32 MiB in, 32 MiB out: well past any cache
  const copy = emitElementwise(selectElementwise({
    shape: [n], inputs: [{ name: 'src', view: contiguousView([n]) }], outputs: [{ name: 'dst', view: contiguousView([n]), expr: ex.input(0) }], label: 'bandwidth',
  }, caps));
  const c = await timeWithBudget(gpu, copy, { src: benchValues(n, 7), dst: new Float32Array(n) }, budgetMs);
  return { gflops: gigaPerSecond(calibrateFlops(cal), fms), gbps: gigaPerSecond(2 * 4 * n, c.ms) };
}

export interface KernelResult {
  size: string;
  name: string;
  kind: KernelCase['kind'];
  variant: string;
  ms: number;
  reps: number;
  firstMs: number;
  gflops: number | null;
  /** Best per-window share of the FMA calibration timed right before the window (null: not FLOP-bound). */
  alongside: number | null;
  gbps: number;
  ortCpuMs?: number;
  ortCpuGflops?: number;
}

/** The variant the selector picked (matmul and attention with their blocking, LN subgroup/workgroup), from the config in the key. */
export function variantOf(k: EmittedKernel): string {
  const config = JSON.parse(k.key.slice(k.key.indexOf(':') + 1)) as { variant?: Record<string, unknown> & { kind?: string }; kTile?: number };
  const v = config.variant;
  if (k.family === 'matmul' && v?.kind === 'subgroup') return `subgroup ${v.rows}×${v.cols}, K ${v.kBlock}${v.vec4A || v.vec4W ? `, vec4 ${[v.vec4A && 'A', v.vec4W && 'W'].filter(Boolean).join('+')}` : ''}`;
  if (k.family === 'matmul' && v?.kind === 'tiled') return `tiled ${v.tileM}×${v.tileN}×${v.tileK}, ${v.threadM}×${v.threadN}${v.stages === 2 ? ', 2 stages' : ''}${v.math === 'f16' ? ', f16' : ''}`;
  if (k.family === 'attention' && v?.kind === 'subgroup') return `subgroup ${v.lanes} lanes×${v.queries}q, ${v.keys}k`;
  if (k.family === 'attention' && v?.kind === 'workgroup') return `workgroup ${v.threads}×${v.queries}q, ${v.keys}k, tile ${v.kTile}`;
  if (v?.kind) return v.kind;
  return config.kTile ? `kTile ${config.kTile}` : k.family;
}

async function ortMatmulMs(M: number, N: number, K: number, runs: number): Promise<number> {
  const ort = loadOrt();
  const session = await openSession(matmulOnnx(M, N, K, benchValues(K * N, 3)), 'cpu');
  const feeds = { A: new ort.Tensor('float32', benchValues(M * K, 4), [M, K]) };
  await session.run(feeds);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    samples.push(performance.now() - t0);
  }
  await session.release();
  return summarize(samples).median;
}

export function adapterSlug(gpu: GpuContext): string {
  const text = `${gpu.report.description} ${gpu.report.name}`.toLowerCase();
  if (/llvmpipe|lavapipe/.test(text)) return 'lavapipe';
  return text.trim().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'adapter';
}

function pct(x: number | null | undefined, peak: number): number | null {
  return x === null || x === undefined ? null : (100 * x) / peak;
}

export function kernelsReport(adapter: AdapterReport, peak: Peak, results: KernelResult[], meta: Record<string, string | number>): Report {
  const rows = (kind: KernelCase['kind']) => results.filter((r) => r.kind === kind);
  const mm = rows('matmul');
  return {
    title: `Kernel microbenchmarks on ${adapter.name}`,
    meta: {
      adapter: `${adapter.name} (${adapter.vendor || 'unknown vendor'}, ${adapter.architecture || 'unknown architecture'}, ${adapter.backend}${adapter.isSoftware && adapter.architecture !== 'software' ? ', software' : ''})`,
      ...meta,
      'measured FMA peak (GFLOP/s)': Number(peak.gflops.toFixed(1)),
      'measured copy bandwidth (GB/s)': Number(peak.gbps.toFixed(2)),
    },
    sections: [
      {
        title: 'Matmul (C = A·Wᵀ with the fused epilogue the DiT uses)',
        text: 'M = batch 2 × 256 tokens. "% FMA peak": against the best FMA calibration of the run (start or end). ' +
          '"% FMA alongside": against a calibration dispatch timed right before each timed window, best window — on a shared machine the fairer figure. ' +
          'ORT CPU: onnxruntime-node, one MatMul node with W as an initializer, default threads, median of runs.',
        table: {
          columns: ['size', 'kernel', 'variant', 'ms', 'GFLOP/s', '% FMA peak', '% FMA alongside', 'GB/s', 'ORT CPU ms', 'ORT CPU GFLOP/s', 'ditto / ORT CPU speed'],
          rows: mm.map((r) => [r.size, r.name, r.variant, r.ms, r.gflops, pct(r.gflops, peak.gflops), r.alongside === null ? null : 100 * r.alongside, r.gbps, r.ortCpuMs ?? null, r.ortCpuGflops ?? null,
            r.ortCpuMs ? r.ortCpuMs / r.ms : null]),
        },
      },
      {
        title: 'Attention (softmax(q·kᵀ/√d)·v from the fused qkv)',
        text: 'FLOPs = 4·B·heads·T²·hd (the two products; softmax not counted).',
        table: {
          columns: ['size', 'kernel', 'variant', 'ms', 'GFLOP/s', '% FMA peak', '% FMA alongside', 'GB/s'],
          rows: rows('attention').map((r) => [r.size, r.name, r.variant, r.ms, r.gflops, pct(r.gflops, peak.gflops), r.alongside === null ? null : 100 * r.alongside, r.gbps]),
        },
      },
      {
        title: 'LayerNorm + adaLN modulate (memory-bound)',
        text: 'GB/s counts x, the modulation rows and y once; "% copy" is against the copy kernel.',
        table: {
          columns: ['size', 'kernel', 'variant', 'ms', 'GB/s', '% copy bandwidth'],
          rows: rows('layernorm_modulate').map((r) => [r.size, r.name, r.variant, r.ms, r.gbps, pct(r.gbps, peak.gbps)]),
        },
      },
      {
        title: 'Repetitions and first use',
        text: '"first ms" is upload + pipeline JIT + one dispatch (lavapipe compiles lazily; Mesa\'s disk cache makes later processes faster).',
        table: { columns: ['size', 'kernel', 'reps', 'first ms'], rows: results.map((r) => [r.size, r.name, r.reps, r.firstMs]) },
      },
    ],
    data: { peak, results },
  };
}

/**
 * Times every kernel case of the given DiT sizes on this device (and ORT's CPU matmul at the same
 * shapes when `ortRuns` is a number), logging one line per kernel.
 */
export async function benchKernelCases(
  gpu: GpuContext, sizes: readonly DitSize[], budgetMs: number, ortRuns: number | null, log: (line: string) => void,
  kinds: readonly KernelCase['kind'][] = KERNEL_KINDS,
): Promise<KernelResult[]> {
  const caps = capsFromReport(gpu.report);
  const cal = selectCalibrate({ targetFlops: 2 ** 30 }, caps);
  const calKernel = emitCalibrate(cal);
  const results: KernelResult[] = [];
  for (const size of sizes) {
    for (const c of kernelCases(size, caps).filter((k) => kinds.includes(k.kind))) {
      const peak = c.flops === null ? undefined : { kernel: calKernel, flops: calibrateFlops(cal), work: c.flops };
      const t = await timeWithBudget(gpu, c.kernel, benchData(c.kernel), budgetMs, peak);
      const r: KernelResult = {
        size: c.size, name: c.name, kind: c.kind, variant: variantOf(c.kernel), ms: t.ms, reps: t.reps, firstMs: t.firstMs,
        gflops: c.flops === null ? null : gigaPerSecond(c.flops, t.ms), alongside: t.alongside, gbps: gigaPerSecond(c.bytes, t.ms),
      };
      if (c.mnk && ortRuns !== null) {
        const [M, N, K] = c.mnk;
        r.ortCpuMs = await ortMatmulMs(M, N, K, ortRuns);
        r.ortCpuGflops = gigaPerSecond(c.flops!, r.ortCpuMs);
      }
      results.push(r);
      log(`${c.size} ${c.name}: ${t.ms.toFixed(2)} ms × ${t.reps}${r.gflops !== null ? `, ${r.gflops.toFixed(2)} GFLOP/s (${(100 * r.alongside!).toFixed(1)}% of the calibration alongside)` : ''}, ${r.gbps.toFixed(2)} GB/s` +
        (r.ortCpuMs ? `; ORT CPU ${r.ortCpuMs.toFixed(2)} ms` : ''));
    }
  }
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'budget-ms': { type: 'string', default: '1500' },
      'ort-runs': { type: 'string', default: '5' },
      out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results') },
      sizes: { type: 'string', default: 'S,B,XL' },
      'no-ort': { type: 'boolean', default: false },
      'dawn-toggle': { type: 'string', multiple: true },
      kinds: { type: 'string', default: KERNEL_KINDS.join(',') },
    },
  });
  const budgetMs = Number(values['budget-ms']);
  const ortRuns = Number(values['ort-runs']);
  if (!(budgetMs > 0)) throw new DittoError('E_USAGE', `--budget-ms must be a positive number, got '${values['budget-ms']}'`);
  if (!Number.isInteger(ortRuns) || ortRuns < 1) throw new DittoError('E_USAGE', `--ort-runs must be a positive integer, got '${values['ort-runs']}'`);
  const wanted = values.sizes.split(',').map((s) => s.trim());
  const sizes = DIT_SIZES.filter((s) => wanted.includes(s.name));
  const unknown = wanted.filter((w) => !DIT_SIZES.some((s) => s.name === w));
  if (unknown.length) throw new DittoError('E_USAGE', `unknown DiT size '${unknown[0]}' in --sizes; use some of ${DIT_SIZES.map((s) => s.name).join(',')}`);

  const kinds = values.kinds.split(',').map((s) => s.trim());
  const badKind = kinds.find((k) => !(KERNEL_KINDS as readonly string[]).includes(k));
  if (badKind !== undefined) throw new DittoError('E_USAGE', `unknown kernel kind '${badKind}' in --kinds; use some of ${KERNEL_KINDS.join(',')}`);

  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const gpu = await createGpu({ toggles: values['dawn-toggle'] ?? [] });
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`adapter: ${gpu.report.name} (${gpu.report.backend})`);
  const before = await measurePeak(gpu, budgetMs);
  log(`peak: ${before.gflops.toFixed(1)} GFLOP/s FMA, ${before.gbps.toFixed(2)} GB/s copy`);

  const results = await benchKernelCases(gpu, sizes, budgetMs, values['no-ort'] ? null : ortRuns, log, kinds as KernelCase['kind'][]);
  const ort = values['no-ort'] ? null : ortInfo();
  // On a shared machine the load moves during the run: calibrate again at the end and compare every
  // kernel with the better of the two (a peak only ever reads low, so this never flatters a kernel).
  const after = await measurePeak(gpu, budgetMs);
  log(`peak at the end: ${after.gflops.toFixed(1)} GFLOP/s FMA, ${after.gbps.toFixed(2)} GB/s copy`);
  const peak: Peak = { gflops: Math.max(before.gflops, after.gflops), gbps: Math.max(before.gbps, after.gbps) };
  const report = kernelsReport(gpu.report, peak, results, {
    'FMA peak at start / end (GFLOP/s)': `${before.gflops.toFixed(1)} / ${after.gflops.toFixed(1)}`,
    date: new Date().toISOString().slice(0, 10),
    command: `npm run bench:kernels -- --budget-ms ${budgetMs} --ort-runs ${ortRuns} --sizes ${values.sizes}` +
      (values.kinds === KERNEL_KINDS.join(',') ? '' : ` --kinds ${values.kinds}`) + (values['no-ort'] ? ' --no-ort' : ''),
    'CPU': `${cpus()[0]?.model ?? 'unknown'} × ${availableParallelism()} available`,
    'webgpu (dawn.node)': dawnVersion(),
    'onnxruntime-node': ort ? ort.version : 'not run',
    'wall time (s)': Number(((performance.now() - started) / 1000).toFixed(1)),
    // The machine may be shared: say how loaded it was, so absolute times can be read for what they are.
    machine: `load average (1 min) ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end; % of peak compares with the FMA calibration of the same run`,
  });
  const files = writeReport(values.out, report, `kernels-${adapterSlug(gpu)}`);
  log(`wrote ${relative(REPO_ROOT, files.md)} and ${relative(REPO_ROOT, files.json)}`);
  gpu.device.destroy();
}

runIfMain(import.meta.url, main);
