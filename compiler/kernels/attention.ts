/**
 * Attention family: softmax(q·kᵀ·scale)·v per head, no mask, on a fused qkv [B, T, 3D] in timm
 * layout (per token: q of heads 0..H−1, then k, then v; each head's hd values contiguous) → out
 * [B, T, D] (heads concatenated, head h at columns h·hd…).
 *
 * Flash style: one invocation per query, a workgroup per (query tile, head, sample). K/V tiles of
 * `kTile` keys are staged in workgroup memory; per tile the scores go to a private array, then the
 * running max/denominator and the output are rescaled once (online softmax). hd is a const, so
 * head vectors are fixed-size vec4 arrays; when hd % 4 ≠ 0 the last vec4 is statically masked.
 * Ragged T: tile loads outside T are zero and skipped (the key loop stops at T); queries past T
 * load the last row and do not store. All accumulation is f32.
 */
import { DittoError } from '../../core/errors.ts';
import { assertPositiveInts, cacheKey, checkBindingSizes, declareBindings, enables, f32Lit } from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

export interface AttentionProblem {
  B: number;
  T: number;
  heads: number;
  headDim: number;
  /** Default 1/sqrt(headDim). */
  scale?: number;
  qkvDtype?: StorageDType;
}

export interface AttentionConfig {
  B: number;
  T: number;
  heads: number;
  headDim: number;
  scale: number;
  qkvDtype: StorageDType;
  /** Queries per workgroup (one per invocation). */
  qTile: number;
  /** Keys per workgroup-memory tile. */
  kTile: number;
}

/** Bytes of workgroup memory: K and V tiles of kTile × ⌈hd/4⌉ vec4s. */
export function attentionStorageBytes(kTile: number, headDim: number): number {
  return 2 * kTile * Math.ceil(headDim / 4) * 16;
}

export function selectAttention(p: AttentionProblem, caps: AdapterCaps): AttentionConfig {
  assertPositiveInts('attention', { B: p.B, T: p.T, heads: p.heads, headDim: p.headDim });
  const qkvDtype = p.qkvDtype ?? 'f32';
  if (qkvDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'attention: f16 storage needs shader-f16');
  // Software adapters run a workgroup as a loop over 8-wide SIMD slices: smaller tiles keep the
  // per-workgroup private state (q, o, scores) small; hardware prefers 64 queries per workgroup.
  let qTile = caps.isSoftware ? 32 : 64;
  while (qTile > caps.maxInvocations) qTile /= 2;
  qTile = Math.max(1, Math.min(qTile, 1 << Math.ceil(Math.log2(p.T))));
  let kTile = 32;
  while (kTile > 1 && attentionStorageBytes(kTile, p.headDim) > caps.maxWorkgroupStorage) kTile /= 2;
  kTile = Math.min(kTile, 1 << Math.ceil(Math.log2(p.T)));
  if (attentionStorageBytes(kTile, p.headDim) > caps.maxWorkgroupStorage) {
    throw new DittoError('E_GPU', `attention: head dim ${p.headDim} does not fit this adapter's workgroup memory (${caps.maxWorkgroupStorage} bytes)`);
  }
  const c: AttentionConfig = {
    B: p.B, T: p.T, heads: p.heads, headDim: p.headDim, scale: p.scale ?? 1 / Math.sqrt(p.headDim), qkvDtype, qTile, kTile,
  };
  checkBindingSizes('attention', attentionBindings(c), caps);
  const dispatch = attentionDispatch(c);
  if (dispatch.some((d) => d > caps.maxWorkgroupsPerDimension)) {
    throw new DittoError('E_GPU', `attention: ${dispatch.join('×')} workgroups exceed this adapter's ${caps.maxWorkgroupsPerDimension} per dimension`);
  }
  return c;
}

export function attentionKey(c: AttentionConfig): string {
  return cacheKey('attention', c);
}

function attentionBindings(c: AttentionConfig): KernelBinding[] {
  const D = c.heads * c.headDim;
  return [
    { name: 'qkv', access: 'read', elemType: c.qkvDtype, elements: c.B * c.T * 3 * D },
    { name: 'out', access: 'read_write', elemType: 'f32', elements: c.B * c.T * D },
  ];
}

function attentionDispatch(c: AttentionConfig): [number, number, number] {
  return [Math.ceil(c.T / c.qTile), c.heads, c.B];
}

export function emitAttention(c: AttentionConfig): EmittedKernel {
  const bindings = attentionBindings(c);
  const HD = c.headDim;
  const HD4 = Math.ceil(HD / 4);
  const D = c.heads * HD;
  const L: string[] = [];
  L.push(`// ditto attention: B ${c.B}, T ${c.T}, heads ${c.heads}, head dim ${HD}`);
  L.push(enables(bindings.map((b) => b.elemType)) + declareBindings(bindings));
  L.push(`const T = ${c.T}u;`, `const HD = ${HD}u;`, `const HD4 = ${HD4}u;`, `const D = ${D}u;`, `const D3 = ${3 * D}u;`);
  L.push(`const QT = ${c.qTile}u;`, `const KT = ${c.kTile}u;`);
  L.push(`var<workgroup> Ks: array<vec4<f32>, ${c.kTile * HD4}>;`);
  L.push(`var<workgroup> Vs: array<vec4<f32>, ${c.kTile * HD4}>;`);
  // Loads 4 consecutive head values; components past hd are statically zero.
  const comp = (k: number) => (HD % 4 === 0 || k < HD % 4 ? `f32(qkv[i + ${k}u])` : '0.0');
  if (HD % 4 === 0) {
    L.push(`fn ld4(i: u32, d: u32) -> vec4<f32> { return vec4<f32>(${[0, 1, 2, 3].map(comp).join(', ')}); }`);
  } else {
    L.push(`fn ld4(i: u32, d: u32) -> vec4<f32> {`);
    L.push(`  if (d + 1u < HD4) { return vec4<f32>(f32(qkv[i]), f32(qkv[i + 1u]), f32(qkv[i + 2u]), f32(qkv[i + 3u])); }`);
    L.push(`  return vec4<f32>(${[0, 1, 2, 3].map(comp).join(', ')});`);
    L.push(`}`);
  }
  L.push(`@compute @workgroup_size(${c.qTile})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let b = wid.z; let h = wid.y;`);
  L.push(`  let qi = wid.x * QT + lid;`);
  L.push(`  let base = b * T * D3 + h * HD;`);
  L.push(`  let qrow = base + min(qi, T - 1u) * D3;`);
  L.push(`  var q: array<vec4<f32>, ${HD4}>;`);
  L.push(`  var o: array<vec4<f32>, ${HD4}>;`);
  L.push(`  for (var d = 0u; d < HD4; d++) { q[d] = ld4(qrow + 4u * d, d) * ${f32Lit(c.scale)}; o[d] = vec4<f32>(0.0); }`);
  L.push(`  var m = -3.0e38;`, `  var l = 0.0;`);
  L.push(`  var sc: array<f32, ${c.kTile}>;`);
  L.push(`  for (var k0 = 0u; k0 < T; k0 += KT) {`);
  L.push(`    for (var e = lid; e < KT * HD4; e += QT) {`);
  L.push(`      let j = e / HD4; let d = e % HD4;`);
  L.push(`      var kv = vec4<f32>(0.0); var vv = vec4<f32>(0.0);`);
  L.push(`      if (k0 + j < T) { let r = base + (k0 + j) * D3 + 4u * d; kv = ld4(r + D, d); vv = ld4(r + 2u * D, d); }`);
  L.push(`      Ks[e] = kv; Vs[e] = vv;`);
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`    let kn = min(KT, T - k0);`);
  L.push(`    var tmax = m;`);
  L.push(`    for (var j = 0u; j < kn; j++) {`);
  L.push(`      var s = 0.0;`);
  L.push(`      for (var d = 0u; d < HD4; d++) { s += dot(q[d], Ks[j * HD4 + d]); }`);
  L.push(`      sc[j] = s; tmax = max(tmax, s);`);
  L.push(`    }`);
  L.push(`    let alpha = exp(m - tmax);`);
  L.push(`    l *= alpha;`);
  L.push(`    for (var d = 0u; d < HD4; d++) { o[d] *= alpha; }`);
  L.push(`    for (var j = 0u; j < kn; j++) {`);
  L.push(`      let p = exp(sc[j] - tmax);`);
  L.push(`      l += p;`);
  L.push(`      for (var d = 0u; d < HD4; d++) { o[d] += p * Vs[j * HD4 + d]; }`);
  L.push(`    }`);
  L.push(`    m = tmax;`);
  L.push(`    workgroupBarrier();`);
  L.push(`  }`);
  L.push(`  if (qi >= T) { return; }`);
  L.push(`  let orow = (b * T + qi) * D + h * HD;`);
  L.push(`  let inv = 1.0 / l;`);
  L.push(`  for (var d = 0u; d < HD; d++) { out[orow + d] = o[d / 4u][d % 4u] * inv; }`);
  L.push(`}`, '');
  return {
    family: 'attention',
    key: attentionKey(c),
    wgsl: L.join('\n'),
    entryPoint: 'main',
    workgroupSize: [c.qTile, 1, 1],
    bindings,
    dispatch: attentionDispatch(c),
  };
}
