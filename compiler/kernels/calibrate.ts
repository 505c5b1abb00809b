/**
 * Calibration family: an FMA-bound kernel that measures what the adapter can really compute, so the
 * microbenchmarks can report each kernel as a share of a measured peak rather than a datasheet's.
 *
 * Each invocation runs `chains` independent vec4 accumulators through `iterations` rounds of
 * acc = fma(acc, m, c) (independent chains hide FMA latency; a loop, not unrolled, keeps lavapipe's
 * JIT short). m and c come from a buffer so nothing folds at compile time, and every accumulator is
 * summed into one store so nothing is dead. No loads inside the loop: on lavapipe a load costs ~12
 * instructions per lane (docs/lavapipe.md), which is exactly what a peak must not include.
 * m < 1 and c small keep the values finite for any iteration count.
 */
import { DittoError } from '../../core/errors.ts';
import { assertPositiveInts, cacheKey, ceilDiv, checkBindingSizes, declareBindings, fold1d } from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding } from './types.ts';

/** Chain updates written out per loop trip (short: long unrolled bodies cost JIT time). */
const UNROLL = 8;

export interface CalibrateProblem {
  /** About how many FLOPs one dispatch should do (default 2^32 ≈ 4.3 GFLOP). */
  targetFlops?: number;
}

export interface CalibrateConfig {
  workgroupSize: number;
  workgroups: number;
  iterations: number;
  chains: number;
  maxWorkgroupsPerDimension: number;
}

/** FLOPs one dispatch performs: 2 per FMA, 4 lanes per vec4. */
export function calibrateFlops(c: CalibrateConfig): number {
  return c.workgroupSize * c.workgroups * c.iterations * UNROLL * c.chains * 4 * 2;
}

export function selectCalibrate(p: CalibrateProblem, caps: AdapterCaps): CalibrateConfig {
  const target = p.targetFlops ?? 2 ** 32;
  if (!(target > 0) || !Number.isFinite(target)) throw new DittoError('E_INTERNAL', `calibrate: targetFlops must be positive, got ${target}`);
  const workgroupSize = Math.min(64, caps.maxInvocations);
  const chains = 4;
  const iterations = 1024;
  // Enough invocations to fill every core of a CPU adapter and every SM of a GPU many times over.
  const perGroup = workgroupSize * iterations * UNROLL * chains * 8;
  const workgroups = Math.max(64, ceilDiv(target, perGroup));
  const config = { workgroupSize, workgroups, iterations, chains, maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension };
  checkBindingSizes('calibrate_fma', calibrateBindings(config), caps);
  return config;
}

export function calibrateKey(c: CalibrateConfig): string {
  return cacheKey('calibrate_fma', c);
}

export function calibrateBindings(c: CalibrateConfig): KernelBinding[] {
  return [
    { name: 'coef', access: 'read', elemType: 'f32', elements: 2 },
    { name: 'out', access: 'read_write', elemType: 'f32', elements: c.workgroupSize * c.workgroups },
  ];
}

export function emitCalibrate(c: CalibrateConfig): EmittedKernel {
  assertPositiveInts('calibrate_fma', { workgroupSize: c.workgroupSize, workgroups: c.workgroups, iterations: c.iterations, chains: c.chains });
  const bindings = calibrateBindings(c);
  const dispatch = fold1d(c.workgroups, c.maxWorkgroupsPerDimension);
  const init = Array.from({ length: c.chains }, (_, i) => `  var a${i} = vec4<f32>(f32(gid) * 1e-6 + ${i}.0 * 0.01, 0.1, 0.2, 0.3);`);
  // UNROLL copies of the chain updates per loop trip: the trip's own cost (lavapipe keeps a lane
  // mask per loop) is then small against the FMAs.
  const body = Array.from({ length: UNROLL * c.chains }, (_, j) => `    a${j % c.chains} = a${j % c.chains} * m + k;`);
  const sum = Array.from({ length: c.chains }, (_, i) => `a${i}`).join(' + ');
  const wgsl = `${declareBindings(bindings)}
const ITERATIONS = ${c.iterations}u;
const INVOCATIONS = ${c.workgroupSize * c.workgroups}u;
@compute @workgroup_size(${c.workgroupSize})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let gid = (wid.x + wid.y * ${dispatch[0]}u) * ${c.workgroupSize}u + lid;
  if (gid >= INVOCATIONS) { return; }
  let m = vec4<f32>(coef[0]);
  let k = vec4<f32>(coef[1]);
${init.join('\n')}
  for (var i = 0u; i < ITERATIONS; i++) {
${body.join('\n')}
  }
  let s = ${sum};
  out[gid] = s.x + s.y + s.z + s.w;
}
`;
  return { family: 'calibrate_fma', key: calibrateKey(c), wgsl, entryPoint: 'main', workgroupSize: [c.workgroupSize, 1, 1], bindings, dispatch };
}
