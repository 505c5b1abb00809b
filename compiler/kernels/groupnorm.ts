/**
 * group_norm family: GroupNorm of x [B, C, S] (S = H·W pixels) with the per-channel affine, fused
 * with an optional SiLU (the VAE's norm → SiLU before every conv), optionally writing tokens.
 *
 *   y[b, c, s] = act((x[b, c, s] − μ_bg) / sqrt(σ²_bg + eps) · weight[c] + bias[c]),  g = ⌊c / (C/G)⌋
 *
 * One workgroup per (sample, group): its C/G channels × S pixels are contiguous in NCHW, so the
 * group is one flat range. Statistics are f32 and two-pass (mean, then mean squared deviation),
 * reduced in workgroup memory (a power-of-two tree). Output layout `nchw` (like x) or `tokens`
 * ([B, S, C]: the layout attention's q/k/v projections read, so to_tokens costs nothing).
 */
import { DittoError } from '../../core/errors.ts';
import { assertPositiveInts, ACTIVATIONS_WGSL, cacheKey, checkBindingSizes, declareBindings, enables, f32Lit, fold1d } from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

export interface GroupNormProblem {
  B: number;
  C: number;
  /** Pixels per channel (H·W). */
  S: number;
  groups: number;
  eps: number;
  silu?: boolean;
  out?: 'nchw' | 'tokens';
  xDtype?: StorageDType;
}

export interface GroupNormConfig {
  B: number;
  C: number;
  S: number;
  groups: number;
  eps: number;
  silu: boolean;
  out: 'nchw' | 'tokens';
  xDtype: StorageDType;
  threads: number;
  maxWorkgroupsPerDimension: number;
}

export function selectGroupNorm(p: GroupNormProblem, caps: AdapterCaps): GroupNormConfig {
  assertPositiveInts('group_norm', { B: p.B, C: p.C, S: p.S, groups: p.groups });
  if (p.C % p.groups !== 0) throw new DittoError('E_INTERNAL', `group_norm: ${p.C} channels are not divisible into ${p.groups} groups`);
  if (!(p.eps > 0)) throw new DittoError('E_INTERNAL', `group_norm: eps must be positive, got ${p.eps}`);
  const xDtype = p.xDtype ?? 'f32';
  if (xDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'group_norm: f16 storage needs shader-f16');
  // A group is large (VAE: 16 channels × 4096 pixels): use many threads, a power of two for the tree.
  const n = (p.C / p.groups) * p.S;
  let threads = caps.isSoftware ? 64 : 256;
  while (threads > 32 && threads > n) threads /= 2;
  while (threads > caps.maxInvocations || threads * 4 > caps.maxWorkgroupStorage) threads /= 2;
  const c: GroupNormConfig = {
    B: p.B, C: p.C, S: p.S, groups: p.groups, eps: p.eps, silu: p.silu ?? false, out: p.out ?? 'nchw', xDtype, threads,
    maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension,
  };
  checkBindingSizes('group_norm', groupNormBindings(c), caps);
  fold1d(c.B * c.groups, c.maxWorkgroupsPerDimension);
  return c;
}

export function groupNormKey(c: GroupNormConfig): string {
  return cacheKey('group_norm', c);
}

function groupNormBindings(c: GroupNormConfig): KernelBinding[] {
  const n = c.B * c.C * c.S;
  return [
    { name: 'x', access: 'read', elemType: c.xDtype, elements: n },
    { name: 'weight', access: 'read', elemType: 'f32', elements: c.C },
    { name: 'bias', access: 'read', elemType: 'f32', elements: c.C },
    { name: 'y', access: 'read_write', elemType: 'f32', elements: n },
  ];
}

export function emitGroupNorm(c: GroupNormConfig): EmittedKernel {
  const bindings = groupNormBindings(c);
  const dispatch = fold1d(c.B * c.groups, c.maxWorkgroupsPerDimension);
  const per = c.C / c.groups;
  const WG = c.threads;
  const L: string[] = [];
  L.push(`// ditto group_norm${c.silu ? ' + silu' : ''}: [${c.B},${c.C},${c.S}], ${c.groups} groups, out ${c.out}`);
  L.push(enables(bindings.map((b) => b.elemType)) + declareBindings(bindings));
  if (c.silu) L.push(ACTIVATIONS_WGSL);
  L.push(`const C = ${c.C}u;`, `const S = ${c.S}u;`, `const PER = ${per}u;`, `const N = ${per * c.S}u; // elements of one group`);
  L.push(`const GROUPS = ${c.groups}u;`, `const WG = ${WG}u;`);
  L.push(`var<workgroup> red: array<f32, ${WG}>;`);
  L.push(`fn groupSum(v: f32, lid: u32) -> f32 {`);
  L.push(`  red[lid] = v;`, `  workgroupBarrier();`);
  L.push(`  for (var s = WG / 2u; s > 0u; s >>= 1u) {`, `    if (lid < s) { red[lid] += red[lid + s]; }`, `    workgroupBarrier();`, `  }`);
  L.push(`  let total = red[0];`, `  workgroupBarrier();`, `  return total;`, `}`);
  L.push(`@compute @workgroup_size(${WG})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let bg = wid.x + wid.y * ${dispatch[0]}u;`);
  L.push(`  if (bg >= ${c.B * c.groups}u) { return; } // uniform per workgroup`);
  L.push(`  let b = bg / GROUPS; let g = bg % GROUPS;`);
  L.push(`  let base = bg * N; // the group's channels are contiguous in NCHW`);
  L.push(`  var s = 0.0;`, `  for (var i = lid; i < N; i += WG) { s += f32(x[base + i]); }`);
  L.push(`  let mean = groupSum(s, lid) / f32(N);`);
  L.push(`  var q = 0.0;`, `  for (var i = lid; i < N; i += WG) { let d = f32(x[base + i]) - mean; q += d * d; }`);
  L.push(`  let rstd = inverseSqrt(groupSum(q, lid) / f32(N) + ${f32Lit(c.eps)});`);
  L.push(`  for (var i = lid; i < N; i += WG) {`);
  L.push(`    let ch = g * PER + i / S; let p = i % S;`);
  L.push(`    let v = (f32(x[base + i]) - mean) * rstd * weight[ch] + bias[ch];`);
  const val = c.silu ? 'silu(v)' : 'v';
  L.push(c.out === 'nchw' ? `    y[base + i] = ${val};` : `    y[(b * S + p) * C + ch] = ${val};`);
  L.push(`  }`, `}`, '');
  return { family: 'group_norm', key: groupNormKey(c), wgsl: L.join('\n'), entryPoint: 'main', workgroupSize: [WG, 1, 1], bindings, dispatch };
}
