/**
 * LayerNorm fused with adaLN modulate: y[r, i] = (x[r, i] − μ_r)/sqrt(σ²_r + eps) · (1 + scale[b, i]) + shift[b, i]
 * over rows of width D, b = ⌊r / tokens⌋. No affine parameters (DiT's norms have none).
 * shift and scale are read at element offsets inside one modulation tensor (they are chunks of the
 * [B, 6D] adaLN output), so no copy is made. Statistics are f32 and two-pass (mean, then the mean of
 * squared deviations), which avoids the cancellation of E[x²] − E[x]².
 *
 * One workgroup per row. Variants: `subgroup` (software adapters: one subgroup per row, reductions
 * with subgroupAdd, no workgroup memory or barriers) and `workgroup` (tree reduction in workgroup
 * memory).
 */
import { DittoError } from '../../core/errors.ts';
import { assertNonNegInts, assertPositiveInts, cacheKey, checkBindingSizes, declareBindings, enables, f32Lit, fold1d } from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

export interface ModulationView {
  /** Elements between consecutive samples' rows of the modulation tensor (6D for DiT blocks). */
  rowStride: number;
  shiftOffset: number;
  scaleOffset: number;
}

export interface LayerNormModulateProblem {
  /** Rows = B·tokens. */
  rows: number;
  D: number;
  tokens: number;
  eps: number;
  /** null: plain LayerNorm without modulation. */
  modulation: ModulationView | null;
  xDtype?: StorageDType;
}

export interface LayerNormModulateConfig {
  rows: number;
  D: number;
  tokens: number;
  eps: number;
  modulation: ModulationView | null;
  xDtype: StorageDType;
  variant: { kind: 'subgroup' | 'workgroup'; threads: number };
  maxWorkgroupsPerDimension: number;
}

export function selectLayerNormModulate(p: LayerNormModulateProblem, caps: AdapterCaps): LayerNormModulateConfig {
  assertPositiveInts('layernorm_modulate', { rows: p.rows, D: p.D, tokens: p.tokens });
  if (!(p.eps > 0)) throw new DittoError('E_INTERNAL', `layernorm_modulate: eps must be positive, got ${p.eps}`);
  if (p.modulation) assertNonNegInts('layernorm_modulate', { ...p.modulation });
  const xDtype = p.xDtype ?? 'f32';
  if (xDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'layernorm_modulate: f16 storage needs shader-f16');
  let variant: LayerNormModulateConfig['variant'];
  if (caps.isSoftware && caps.hasSubgroups && caps.subgroupMinSize >= 4 && caps.subgroupMinSize === caps.subgroupMaxSize) {
    variant = { kind: 'subgroup', threads: caps.subgroupMinSize };
  } else {
    // Enough threads for ~4 elements each, a power of two for the tree reduction, within limits.
    let threads = 32;
    while (threads < 256 && threads * 4 < p.D) threads *= 2;
    while (threads > caps.maxInvocations || threads * 4 > caps.maxWorkgroupStorage) threads /= 2;
    variant = { kind: 'workgroup', threads };
  }
  const c: LayerNormModulateConfig = {
    rows: p.rows, D: p.D, tokens: p.tokens, eps: p.eps, modulation: p.modulation ?? null, xDtype, variant,
    maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension,
  };
  checkBindingSizes('layernorm_modulate', layerNormBindings(c), caps);
  return c;
}

export function layerNormModulateKey(c: LayerNormModulateConfig): string {
  return cacheKey('layernorm_modulate', c);
}

function layerNormBindings(c: LayerNormModulateConfig): KernelBinding[] {
  const b: KernelBinding[] = [{ name: 'x', access: 'read', elemType: c.xDtype, elements: c.rows * c.D }];
  const m = c.modulation;
  if (m) {
    const samples = Math.ceil(c.rows / c.tokens);
    b.push({ name: 'modulation', access: 'read', elemType: 'f32', elements: (samples - 1) * m.rowStride + Math.max(m.shiftOffset, m.scaleOffset) + c.D });
  }
  b.push({ name: 'y', access: 'read_write', elemType: 'f32', elements: c.rows * c.D });
  return b;
}

export function emitLayerNormModulate(c: LayerNormModulateConfig): EmittedKernel {
  const bindings = layerNormBindings(c);
  const W = c.variant.threads;
  const sg = c.variant.kind === 'subgroup';
  const dispatch = fold1d(c.rows, c.maxWorkgroupsPerDimension);
  const L: string[] = [];
  L.push(`// ditto layernorm_modulate ${c.variant.kind}: rows ${c.rows}, D ${c.D}`);
  L.push(enables(bindings.map((b) => b.elemType), sg) + declareBindings(bindings));
  L.push(`const D = ${c.D}u;`, `const ROWS = ${c.rows}u;`, `const WG = ${W}u;`);
  if (sg) {
    L.push(`fn rowSum(v: f32, lid: u32) -> f32 { return subgroupAdd(v); }`);
  } else {
    L.push(`var<workgroup> red: array<f32, ${W}>;`);
    L.push(`fn rowSum(v: f32, lid: u32) -> f32 {`);
    L.push(`  red[lid] = v;`, `  workgroupBarrier();`);
    L.push(`  for (var s = WG / 2u; s > 0u; s >>= 1u) {`, `    if (lid < s) { red[lid] += red[lid + s]; }`, `    workgroupBarrier();`, `  }`);
    L.push(`  let total = red[0];`, `  workgroupBarrier();`, `  return total;`, `}`);
  }
  L.push(`@compute @workgroup_size(${W})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let row = wid.x + wid.y * ${dispatch[0]}u;`);
  L.push(`  if (row >= ROWS) { return; } // uniform per workgroup: every invocation shares the row`);
  L.push(`  let base = row * D;`);
  L.push(`  var s = 0.0;`, `  for (var i = lid; i < D; i += WG) { s += f32(x[base + i]); }`);
  L.push(`  let mean = rowSum(s, lid) / f32(D);`);
  L.push(`  var q = 0.0;`, `  for (var i = lid; i < D; i += WG) { let d = f32(x[base + i]) - mean; q += d * d; }`);
  L.push(`  let rstd = inverseSqrt(rowSum(q, lid) / f32(D) + ${f32Lit(c.eps)});`);
  const m = c.modulation;
  if (m) L.push(`  let mb = (row / ${c.tokens}u) * ${m.rowStride}u;`);
  L.push(`  for (var i = lid; i < D; i += WG) {`);
  L.push(`    let n = (f32(x[base + i]) - mean) * rstd;`);
  L.push(m ? `    y[base + i] = n * (1.0 + modulation[mb + ${m.scaleOffset}u + i]) + modulation[mb + ${m.shiftOffset}u + i];` : `    y[base + i] = n;`);
  L.push(`  }`, `}`, '');
  return {
    family: 'layernorm_modulate',
    key: layerNormModulateKey(c),
    wgsl: L.join('\n'),
    entryPoint: 'main',
    workgroupSize: [W, 1, 1],
    bindings,
    dispatch,
  };
}
