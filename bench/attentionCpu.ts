/**
 * `npx tsx bench/attentionCpu.ts [--sizes S,B,XL]`: attention variants at DiT shapes (batch 2, 256
 * tokens) on a software adapter, costed in CPU time of the adapter's worker threads instead of wall
 * time, so a machine loaded by other work gives the same ratios as a quiet one. For each size: the
 * selected variant and the one-query-per-invocation `simple` kernel, each as GFLOP per CPU-second
 * and as a share of the FMA calibration kernel costed the same way. Prints one line per kernel.
 *
 * Linux only (reads /proc/self/task); every thread but the JS one is counted, which on lavapipe is
 * its pool of shader threads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DittoError } from '../core/errors.ts';
import {
  calibrateFlops, capsFromReport, emitAttention, emitCalibrate, selectAttention, selectCalibrate, type AttentionConfig, type EmittedKernel,
} from '../compiler/kernels/index.ts';
import { createGpu, type GpuContext } from '../runtime/device.ts';
import { timeKernel, type HostArray } from '../runtime/kernelRunner.ts';
import { BATCH, DIT_SIZES, TOKENS } from './kernelCases.ts';
import { runIfMain } from './scriptMain.ts';

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

/** Worker CPU seconds per dispatch, after one untimed dispatch (which pays the JIT). */
async function cpuPerDispatch(gpu: GpuContext, k: EmittedKernel, data: Record<string, HostArray>, reps: number): Promise<number> {
  await timeKernel(gpu, k, data, 1);
  const t0 = workerCpuSeconds();
  await timeKernel(gpu, k, data, reps);
  return (workerCpuSeconds() - t0) / reps;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: 'S,B,XL' }, reps: { type: 'string', default: '4' } } });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new DittoError('E_USAGE', `--reps must be a positive integer, got '${values.reps}'`);
  const wanted = values.sizes.split(',').map((s) => s.trim());
  const unknown = wanted.find((w) => !DIT_SIZES.some((s) => s.name === w));
  if (unknown !== undefined) throw new DittoError('E_USAGE', `unknown DiT size '${unknown}' in --sizes; use some of ${DIT_SIZES.map((s) => s.name).join(',')}`);
  const gpu = await createGpu();
  const caps = capsFromReport(gpu.report);
  const log = (s: string) => process.stdout.write(`${s}\n`);
  const cal = selectCalibrate({}, caps);
  const calK = emitCalibrate(cal);
  const calData = { coef: new Float32Array([0.999, 0.001]), out: new Float32Array(calK.bindings[1]!.elements) };
  const peak = calibrateFlops(cal) / (await cpuPerDispatch(gpu, calK, calData, reps)) / 1e9;
  log(`adapter: ${gpu.report.name}; FMA peak ${peak.toFixed(1)} GFLOP per worker CPU-second`);
  for (const size of DIT_SIZES.filter((s) => wanted.includes(s.name))) {
    const hd = size.hidden / size.heads;
    const selected = selectAttention({ B: BATCH, T: TOKENS, heads: size.heads, headDim: hd }, caps);
    const simple: AttentionConfig = { ...selected, variant: { kind: 'simple', qTile: 32, kTile: 32 } };
    for (const c of [selected, simple]) {
      const k = emitAttention(c);
      const data = { qkv: new Float32Array(k.bindings[0]!.elements).fill(0.25), out: new Float32Array(k.bindings[1]!.elements) };
      const gflops = (4 * BATCH * size.heads * TOKENS * TOKENS * hd) / (await cpuPerDispatch(gpu, k, data, reps)) / 1e9;
      log(`${size.name} attention B${BATCH} T${TOKENS} ${size.heads}×${hd} ${JSON.stringify(c.variant)}: ${gflops.toFixed(2)} GFLOP per CPU-s, ${((100 * gflops) / peak).toFixed(1)} % of peak`);
    }
  }
  gpu.device.destroy();
}

runIfMain(import.meta.url, main);
