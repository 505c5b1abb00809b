/**
 * upsample_nearest family: [P, H, W] planes (P = B·C) → [P, f·H, f·W], out[y][x] = in[⌊y/f⌋][⌊x/f⌋].
 * One invocation per output element (dispatch folded over x·y when large). The VAE folds its ×2
 * upsampling into the next conv's indexing instead (conv2d `upsample`); this kernel is for a plan
 * that needs the upsampled tensor itself.
 */
import { assertPositiveInts, cacheKey, ceilDiv, checkBindingSizes, declareBindings, enables, fold1d } from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

export interface UpsampleNearestProblem {
  /** Planes: batch × channels. */
  planes: number;
  H: number;
  W: number;
  factor: number;
  xDtype?: StorageDType;
}

export interface UpsampleNearestConfig {
  planes: number;
  H: number;
  W: number;
  factor: number;
  xDtype: StorageDType;
  workgroup: number;
  maxWorkgroupsPerDimension: number;
}

export function selectUpsampleNearest(p: UpsampleNearestProblem, caps: AdapterCaps): UpsampleNearestConfig {
  assertPositiveInts('upsample_nearest', { planes: p.planes, H: p.H, W: p.W, factor: p.factor });
  const c: UpsampleNearestConfig = {
    planes: p.planes, H: p.H, W: p.W, factor: p.factor, xDtype: p.xDtype ?? 'f32',
    workgroup: Math.min(256, caps.maxInvocations), maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension,
  };
  checkBindingSizes('upsample_nearest', upsampleBindings(c), caps);
  fold1d(ceilDiv(outElements(c), c.workgroup), c.maxWorkgroupsPerDimension);
  return c;
}

export function upsampleNearestKey(c: UpsampleNearestConfig): string {
  return cacheKey('upsample_nearest', c);
}

function outElements(c: UpsampleNearestConfig): number {
  return c.planes * c.H * c.factor * c.W * c.factor;
}

function upsampleBindings(c: UpsampleNearestConfig): KernelBinding[] {
  return [
    { name: 'x', access: 'read', elemType: c.xDtype, elements: c.planes * c.H * c.W },
    { name: 'y', access: 'read_write', elemType: 'f32', elements: outElements(c) },
  ];
}

export function emitUpsampleNearest(c: UpsampleNearestConfig): EmittedKernel {
  const bindings = upsampleBindings(c);
  const dispatch = fold1d(ceilDiv(outElements(c), c.workgroup), c.maxWorkgroupsPerDimension);
  const OW = c.W * c.factor;
  const OH = c.H * c.factor;
  const L: string[] = [];
  L.push(`// ditto upsample_nearest ×${c.factor}: [${c.planes},${c.H},${c.W}] -> [${c.planes},${OH},${OW}]`);
  L.push(enables(bindings.map((b) => b.elemType)) + declareBindings(bindings));
  L.push(`@compute @workgroup_size(${c.workgroup})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let i = (wid.x + wid.y * ${dispatch[0]}u) * ${c.workgroup}u + lid;`);
  L.push(`  if (i >= ${outElements(c)}u) { return; }`);
  L.push(`  let p = i / ${OH * OW}u; let r = i % ${OH * OW}u;`);
  L.push(`  let sy = (r / ${OW}u) / ${c.factor}u; let sx = (r % ${OW}u) / ${c.factor}u;`);
  L.push(`  y[i] = f32(x[(p * ${c.H}u + sy) * ${c.W}u + sx]);`);
  L.push(`}`, '');
  return { family: 'upsample_nearest', key: upsampleNearestKey(c), wgsl: L.join('\n'), entryPoint: 'main', workgroupSize: [c.workgroup, 1, 1], bindings, dispatch };
}
