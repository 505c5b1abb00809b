/**
 * `npx tsx bench/kernelsCpu.ts [--sizes S,B,XL] [--kinds matmul,attention] [--rounds 4]`: the FLOP-bound
 * kernels of `npm run bench:kernels` (DiT shapes, batch 2, 256 tokens) on a software adapter, costed
 * in CPU time of the adapter's worker threads instead of wall time, each against the FMA calibration
 * kernel costed the same way in the same round. A machine loaded by other work stretches wall time
 * by whatever else runs, but a kernel's CPU seconds per FLOP much less, so these shares hold on a
 * shared machine where the wall-clock report's do not. Rounds alternate the calibration and every
 * kernel; each line reports the median and the best round. Prints one line per kernel.
 *
 * Linux only (reads /proc/self/task); every thread but the JS one is counted, which on lavapipe is
 * its pool of shader threads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { DittoError } from '../core/errors.ts';
import { calibrateFlops, capsFromReport, emitCalibrate, selectCalibrate, type EmittedKernel } from '../compiler/kernels/index.ts';
import { createGpu, type GpuContext } from '../runtime/device.ts';
import { benchData, timeKernel, type HostArray } from '../runtime/kernelRunner.ts';
import { DIT_SIZES, kernelCases, type KernelCase } from './kernelCases.ts';
import { variantOf } from './kernels.ts';
import { runIfMain } from './scriptMain.ts';
import { summarize } from './stats.ts';

/** CPU seconds used so far by every thread of this process except the JS one. */
function workerCpuSeconds(): number {
  let ticks = 0;
  for (const id of readdirSync('/proc/self/task')) {
    if (Number(id) === process.pid) continue;
    const stat = readFileSync(`/proc/self/task/${id}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks / 100;
}

/** Worker CPU seconds per dispatch over `reps` dispatches (the JIT is paid before, untimed). */
async function cpuPerDispatch(gpu: GpuContext, k: EmittedKernel, data: Record<string, HostArray>, reps: number): Promise<number> {
  const t0 = workerCpuSeconds();
  await timeKernel(gpu, k, data, reps);
  return (workerCpuSeconds() - t0) / reps;
}

/** Repetitions giving ≈ 0.3 CPU-seconds per kernel and round (the clock ticks in 10 ms). */
function repsFor(cpuSeconds: number): number {
  return Math.max(2, Math.min(40, Math.round(0.3 / Math.max(cpuSeconds, 1e-3))));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    sizes: { type: 'string', default: 'S,B,XL' }, kinds: { type: 'string', default: 'matmul,attention' }, rounds: { type: 'string', default: '4' },
  } });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new DittoError('E_USAGE', `--rounds must be a positive integer, got '${values.rounds}'`);
  const wanted = values.sizes.split(',').map((s) => s.trim());
  const unknown = wanted.find((w) => !DIT_SIZES.some((s) => s.name === w));
  if (unknown !== undefined) throw new DittoError('E_USAGE', `unknown DiT size '${unknown}' in --sizes; use some of ${DIT_SIZES.map((s) => s.name).join(',')}`);
  const kinds = values.kinds.split(',').map((s) => s.trim());
  const badKind = kinds.find((k) => k !== 'matmul' && k !== 'attention');
  if (badKind !== undefined) throw new DittoError('E_USAGE', `unknown kernel kind '${badKind}' in --kinds; use matmul, attention or both`);

  const gpu = await createGpu();
  const caps = capsFromReport(gpu.report);
  const log = (s: string) => process.stdout.write(`${s}\n`);
  const cal = selectCalibrate({ targetFlops: 2 ** 31 }, caps);
  const calK = emitCalibrate(cal);
  const calData = { coef: new Float32Array([0.999, 0.001]), out: new Float32Array(calK.bindings[1]!.elements) };
  const cases: KernelCase[] = DIT_SIZES.filter((s) => wanted.includes(s.name)).flatMap((s) => kernelCases(s, caps)).filter((c) => kinds.includes(c.kind));
  const data = cases.map((c) => benchData(c.kernel));
  log(`adapter: ${gpu.report.name}; load average ${loadavg()[0]!.toFixed(1)}`);
  // Untimed first dispatches pay the JIT; they also size each kernel's repetitions.
  const calReps = repsFor(await cpuPerDispatch(gpu, calK, calData, 1));
  const reps = [];
  for (const [i, c] of cases.entries()) reps.push(repsFor(await cpuPerDispatch(gpu, c.kernel, data[i]!, 1)));
  const shares: number[][] = cases.map(() => []);
  const peaks: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const peak = calibrateFlops(cal) / (await cpuPerDispatch(gpu, calK, calData, calReps)) / 1e9;
    peaks.push(peak);
    for (const [i, c] of cases.entries()) shares[i]!.push(c.flops! / (await cpuPerDispatch(gpu, c.kernel, data[i]!, reps[i]!)) / 1e9 / peak);
  }
  const p = summarize(peaks);
  log(`FMA calibration: median ${p.median.toFixed(1)}, best ${p.max.toFixed(1)} GFLOP per worker CPU-second over ${rounds} rounds; load average now ${loadavg()[0]!.toFixed(1)}`);
  for (const [i, c] of cases.entries()) {
    const s = summarize(shares[i]!);
    log(`${c.size} ${c.name} [${variantOf(c.kernel)}]: ${(100 * s.median).toFixed(1)} % of the FMA calibration (median), best round ${(100 * s.max).toFixed(1)} %`);
  }
  gpu.device.destroy();
}

runIfMain(import.meta.url, main);
