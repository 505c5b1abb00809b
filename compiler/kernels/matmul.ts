/**
 * Matmul family: C[M, N] = epilogue(A'[M, K] · W[N, K]ᵀ), W in PyTorch Linear layout [out, in].
 *
 * A' is A read through a layout (plain rows with offset/row stride, so chunked views need no copy;
 * or the patches of an image, which makes patch_embed an indexed matmul), optionally through SiLU
 * (adaLN: all adaLN projections of a step as one matmul over silu(c)). Epilogue, in order:
 * + bias[N], GELU-tanh, then `residual + gate ⊙ v` with a per-sample gate (row r belongs to
 * sample ⌊r / tokens⌋). An optional batch runs independent problems in dispatch z.
 *
 * Two variants, picked by `selectMatmul` from the adapter:
 * - `subgroup` (software adapters, docs/lavapipe.md "Kernels on the software adapter"): no workgroup memory, no barriers;
 *   each invocation owns R rows × 4 columns (R = min(8, subgroup width, M); 8 on lavapipe); lane
 *   l loads A row r0+l per 8-wide K block and the subgroup shares it with subgroupBroadcast.
 * - `tiled` (hardware): 64×64 or 32×32 output tiles staged through workgroup memory, 4×4 outputs
 *   per thread.
 * Ragged edges (M, N, K not multiples of the tile) are GUARDED, not padded, so callers never pad:
 * the subgroup variant clamps out-of-range rows/columns to the last valid one (their results are
 * discarded at the store; no branch before the broadcasts, which need uniform control flow) and
 * handles the K tail with a statically masked last block (K is a const); the tiled variant loads
 * zeros outside the problem. Both guard the stores.
 */
import { DittoError } from '../../core/errors.ts';
import {
  ACTIVATIONS_WGSL, assertNonNegInts, assertPositiveInts, cacheKey, ceilDiv, checkBindingSizes, declareBindings, enables,
} from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

/** How A'[z][r][k] is read from the `a` buffer. */
export type MatmulALayout =
  /** a[offset + z·batchStride + r·rowStride + k] */
  | { kind: 'rows'; offset: number; rowStride: number; batchStride: number }
  /** Non-overlapping p×p patches of images [Bimg, channels, height, width] (NCHW): row r = (image,
   *  patch row, patch col) in row-major patch order, k = (channel, u, v). patch_embed as a matmul. */
  | { kind: 'patches'; channels: number; height: number; width: number; patch: number };

export interface MatmulGatedResidual {
  /** Rows per sample: row r uses gate row ⌊r / tokens⌋. */
  tokens: number;
  /** gate[gateOffset + ⌊r/tokens⌋·gateRowStride + n] (a chunk of the [B, 6D] adaLN output). */
  gateOffset: number;
  gateRowStride: number;
  /** Read the residual from C itself (h = h + gate ⊙ f(h)); otherwise from a `residual` buffer laid out like C. */
  inPlace: boolean;
}

export interface MatmulProblem {
  M: number;
  N: number;
  K: number;
  /** Independent problems, dispatched in z (default 1). */
  batch?: number;
  /** Default: contiguous rows, {offset 0, rowStride K, batchStride M·K}. */
  a?: MatmulALayout;
  /** Elements between consecutive problems' W (default 0: all problems share W). */
  wBatchStride?: number;
  /** c[cOffset + z·cBatchStride + r·cRowStride + n]; defaults 0, M·cRowStride, N. */
  cOffset?: number;
  cRowStride?: number;
  cBatchStride?: number;
  /** Storage type of W (f16 halves weight bytes; accumulation stays f32). Default f32. */
  wDtype?: StorageDType;
  siluInput?: boolean;
  bias?: boolean;
  gelu?: boolean;
  gatedResidual?: MatmulGatedResidual;
}

export type MatmulVariant =
  | { kind: 'subgroup'; /** rows per invocation = subgroup lanes used */ rows: number; /** invocations per workgroup */ lanes: number }
  | { kind: 'tiled'; tile: 32 | 64; tileK: number };

/** Fully resolved: every default filled in, so equal configs mean equal kernels. */
export interface MatmulConfig {
  M: number;
  N: number;
  K: number;
  batch: number;
  a: MatmulALayout;
  wBatchStride: number;
  cOffset: number;
  cRowStride: number;
  cBatchStride: number;
  wDtype: StorageDType;
  siluInput: boolean;
  bias: boolean;
  gelu: boolean;
  gatedResidual: MatmulGatedResidual | null;
  variant: MatmulVariant;
  /** For dispatch folding checks. */
  maxWorkgroupsPerDimension: number;
}

/** Bytes of workgroup memory a tiled matmul uses. */
export function tiledStorageBytes(tile: number, tileK: number): number {
  return 2 * tile * tileK * 4;
}

export function selectMatmul(p: MatmulProblem, caps: AdapterCaps): MatmulConfig {
  const batch = p.batch ?? 1;
  assertPositiveInts('matmul', { M: p.M, N: p.N, K: p.K, batch });
  const a: MatmulALayout = p.a ?? { kind: 'rows', offset: 0, rowStride: p.K, batchStride: p.M * p.K };
  if (a.kind === 'rows') {
    assertNonNegInts('matmul', { aOffset: a.offset, aBatchStride: a.batchStride });
    if (a.rowStride < p.K) throw new DittoError('E_INTERNAL', `matmul: A row stride ${a.rowStride} is smaller than K=${p.K}`);
  } else {
    assertPositiveInts('matmul', { channels: a.channels, height: a.height, width: a.width, patch: a.patch });
    if (a.height % a.patch || a.width % a.patch) {
      throw new DittoError('E_INTERNAL', `matmul: image ${a.height}×${a.width} is not a multiple of patch ${a.patch}`);
    }
    if (p.K !== a.channels * a.patch * a.patch) throw new DittoError('E_INTERNAL', `matmul: patches need K = C·p² = ${a.channels * a.patch * a.patch}, got ${p.K}`);
    if (p.M % ((a.height / a.patch) * (a.width / a.patch))) throw new DittoError('E_INTERNAL', `matmul: M=${p.M} is not a whole number of images`);
    if (batch !== 1) throw new DittoError('E_INTERNAL', 'matmul: the patches layout does not take a batch');
  }
  const cRowStride = p.cRowStride ?? p.N;
  if (cRowStride < p.N) throw new DittoError('E_INTERNAL', `matmul: C row stride ${cRowStride} is smaller than N=${p.N}`);
  const wDtype = p.wDtype ?? 'f32';
  if (wDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'matmul: f16 weights need the adapter feature shader-f16, which this adapter lacks');
  const g = p.gatedResidual ?? null;
  if (g) assertPositiveInts('matmul', { tokens: g.tokens });
  let variant: MatmulVariant;
  if (caps.isSoftware && caps.hasSubgroups && caps.subgroupMinSize >= 4) {
    // Fewer rows than the subgroup when M is small (adaLN GEMV, M = batch): lanes past `rows`
    // load a clamped row that is never broadcast, and no FMAs are spent on absent rows.
    const rows = Math.min(8, caps.subgroupMinSize, p.M);
    // Two subgroups per workgroup (docs/lavapipe.md "Kernels on the software adapter"); one when N is narrow, to waste fewer columns.
    const sg = Math.min(8, caps.subgroupMinSize);
    const lanes = Math.min(caps.maxInvocations, p.N <= 4 * sg ? sg : 2 * sg);
    variant = { kind: 'subgroup', rows, lanes };
  } else {
    const big = p.M >= 64 && p.N >= 64 && caps.maxInvocations >= 256;
    let tile: 32 | 64 = big ? 64 : 32;
    let tileK = 16;
    while (tiledStorageBytes(tile, tileK) > caps.maxWorkgroupStorage && tileK > 4) tileK /= 2;
    if (tiledStorageBytes(tile, tileK) > caps.maxWorkgroupStorage && tile === 64) tile = 32;
    if (tiledStorageBytes(tile, tileK) > caps.maxWorkgroupStorage || (tile / 4) ** 2 > caps.maxInvocations) {
      throw new DittoError('E_GPU', `matmul: this adapter's workgroup limits (${caps.maxWorkgroupStorage} bytes, ${caps.maxInvocations} invocations) are below WebGPU's minimum`);
    }
    variant = { kind: 'tiled', tile, tileK };
  }
  const config: MatmulConfig = {
    M: p.M, N: p.N, K: p.K, batch, a,
    wBatchStride: p.wBatchStride ?? 0,
    cOffset: p.cOffset ?? 0,
    cRowStride,
    cBatchStride: p.cBatchStride ?? p.M * cRowStride,
    wDtype,
    siluInput: p.siluInput ?? false,
    bias: p.bias ?? false,
    gelu: p.gelu ?? false,
    gatedResidual: g,
    variant,
    maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension,
  };
  checkBindingSizes('matmul', matmulBindings(config), caps);
  return config;
}

export function matmulKey(c: MatmulConfig): string {
  return cacheKey('matmul', c);
}

/** Elements of the `a` buffer the kernel may read. */
function aElements(c: MatmulConfig): number {
  if (c.a.kind === 'patches') return (c.M / ((c.a.height / c.a.patch) * (c.a.width / c.a.patch))) * c.a.channels * c.a.height * c.a.width;
  return c.a.offset + (c.batch - 1) * c.a.batchStride + (c.M - 1) * c.a.rowStride + c.K;
}

function cElements(c: MatmulConfig): number {
  return c.cOffset + (c.batch - 1) * c.cBatchStride + (c.M - 1) * c.cRowStride + c.N;
}

export function matmulBindings(c: MatmulConfig): KernelBinding[] {
  const b: KernelBinding[] = [
    { name: 'a', access: 'read', elemType: 'f32', elements: aElements(c) },
    { name: 'w', access: 'read', elemType: c.wDtype, elements: (c.batch - 1) * c.wBatchStride + c.N * c.K },
  ];
  if (c.bias) b.push({ name: 'bias', access: 'read', elemType: 'f32', elements: c.N });
  const g = c.gatedResidual;
  if (g) {
    b.push({ name: 'gate', access: 'read', elemType: 'f32', elements: g.gateOffset + (ceilDiv(c.M, g.tokens) - 1) * g.gateRowStride + c.N });
    if (!g.inPlace) b.push({ name: 'residual', access: 'read', elemType: 'f32', elements: cElements(c) });
  }
  b.push({ name: 'c', access: 'read_write', elemType: 'f32', elements: cElements(c) });
  return b;
}

/** WGSL: consts, loadA/loadW, and the epilogue+store shared by both variants. */
function commonWgsl(c: MatmulConfig): string {
  const L: string[] = [];
  L.push(`const M = ${c.M}u;`, `const N = ${c.N}u;`, `const K = ${c.K}u;`);
  let aIndex: string;
  if (c.a.kind === 'rows') {
    aIndex = `${c.a.offset}u + z * ${c.a.batchStride}u + r * ${c.a.rowStride}u + k`;
  } else {
    const { channels: C, height: H, width: W, patch: P } = c.a;
    const gw = W / P;
    const per = (H / P) * gw;
    L.push(
      `fn patchIndex(r: u32, k: u32) -> u32 {`,
      `  let img = r / ${per}u; let tok = r % ${per}u;`,
      `  let pr = tok / ${gw}u; let pc = tok % ${gw}u;`,
      `  let ch = k / ${P * P}u; let u = (k % ${P * P}u) / ${P}u; let v = k % ${P}u;`,
      `  return ((img * ${C}u + ch) * ${H}u + pr * ${P}u + u) * ${W}u + pc * ${P}u + v;`,
      `}`,
    );
    aIndex = 'patchIndex(r, k)';
  }
  const aVal = `a[${aIndex}]`;
  L.push(`fn loadA(z: u32, r: u32, k: u32) -> f32 { return ${c.siluInput ? `silu(${aVal})` : aVal}; }`);
  L.push(`fn loadW(z: u32, n: u32, k: u32) -> f32 { return f32(w[z * ${c.wBatchStride}u + n * K + k]); }`);
  const S: string[] = [];
  S.push(`fn store(z: u32, r: u32, n: u32, acc: f32) {`, `  if (r >= M || n >= N) { return; }`);
  S.push(`  let ci = ${c.cOffset}u + z * ${c.cBatchStride}u + r * ${c.cRowStride}u + n;`);
  S.push(`  var v = acc;`);
  if (c.bias) S.push(`  v += bias[n];`);
  if (c.gelu) S.push(`  v = gelu_tanh(v);`);
  const g = c.gatedResidual;
  if (g) {
    S.push(`  let g = gate[${g.gateOffset}u + (r / ${g.tokens}u) * ${g.gateRowStride}u + n];`);
    S.push(`  v = ${g.inPlace ? 'c[ci]' : 'residual[ci]'} + g * v;`);
  }
  S.push(`  c[ci] = v;`, `}`);
  return [...L, ...S].join('\n');
}

function emitSubgroup(c: MatmulConfig, v: Extract<MatmulVariant, { kind: 'subgroup' }>): string {
  const R = v.rows;
  const colsPerGroup = 4 * v.lanes;
  const kFull = Math.floor(c.K / 8) * 8;
  const tail = c.K - kFull;
  // One 8-wide K block; `valid(j)` says statically whether k0+j < K (only false in the tail block).
  const block = (k0: string, valid: (j: number) => boolean, ind: string): string => {
    const L: string[] = [];
    const av = (j: number) => (valid(j) ? `loadA(z, ra, ${k0} + ${j}u)` : '0.0');
    L.push(`let a0 = vec4<f32>(${[0, 1, 2, 3].map(av).join(', ')});`);
    L.push(`let a1 = vec4<f32>(${[4, 5, 6, 7].map(av).join(', ')});`);
    for (let j = 0; j < 4; j++) {
      const wv = (kk: number) => (valid(kk) ? `loadW(z, n${j}, ${k0} + ${kk}u)` : '0.0');
      L.push(`let w${j}0 = vec4<f32>(${[0, 1, 2, 3].map(wv).join(', ')});`);
      L.push(`let w${j}1 = vec4<f32>(${[4, 5, 6, 7].map(wv).join(', ')});`);
    }
    for (let r = 0; r < R; r++) {
      L.push(`{ let x0 = subgroupBroadcast(a0, ${r}u); let x1 = subgroupBroadcast(a1, ${r}u);`);
      L.push(`  acc${r} += vec4<f32>(dot(x0, w00) + dot(x1, w01), dot(x0, w10) + dot(x1, w11), dot(x0, w20) + dot(x1, w21), dot(x0, w30) + dot(x1, w31)); }`);
    }
    return L.map((l) => ind + l).join('\n');
  };
  const L: string[] = [];
  L.push(`@compute @workgroup_size(${v.lanes})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sl: u32) {`);
  L.push(`  let z = wid.z;`);
  L.push(`  let r0 = wid.y * ${R}u;`);
  L.push(`  let c0 = wid.x * ${colsPerGroup}u + lid * 4u;`);
  L.push(`  // Out-of-range rows/columns read the last valid one; their results are dropped by store().`);
  L.push(`  let ra = min(r0 + sl, M - 1u);`);
  for (let j = 0; j < 4; j++) L.push(`  let n${j} = min(c0 + ${j}u, N - 1u);`);
  for (let r = 0; r < R; r++) L.push(`  var acc${r} = vec4<f32>(0.0);`);
  if (kFull > 0) {
    L.push(`  for (var k0 = 0u; k0 < ${kFull}u; k0 += 8u) {`);
    L.push(block('k0', () => true, '    '));
    L.push(`  }`);
  }
  if (tail > 0) {
    L.push(`  {`);
    L.push(`    let k0 = ${kFull}u;`);
    L.push(block('k0', (j) => j < tail, '    '));
    L.push(`  }`);
  }
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < 4; j++) L.push(`  store(z, r0 + ${r}u, c0 + ${j}u, acc${r}[${j}]);`);
  }
  L.push(`}`);
  return L.join('\n');
}

function emitTiled(c: MatmulConfig, v: Extract<MatmulVariant, { kind: 'tiled' }>): string {
  const T = v.tile;
  const TK = v.tileK;
  const side = T / 4;
  const threads = side * side;
  const L: string[] = [];
  L.push(`var<workgroup> As: array<f32, ${T * TK}>; // [k][m]`);
  L.push(`var<workgroup> Ws: array<f32, ${T * TK}>; // [k][n]`);
  L.push(`@compute @workgroup_size(${side}, ${side})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let z = wid.z;`);
  L.push(`  let m0 = wid.y * ${T}u;`);
  L.push(`  let n0 = wid.x * ${T}u;`);
  L.push(`  var acc0 = vec4<f32>(0.0); var acc1 = vec4<f32>(0.0); var acc2 = vec4<f32>(0.0); var acc3 = vec4<f32>(0.0);`);
  L.push(`  for (var k0 = 0u; k0 < K; k0 += ${TK}u) {`);
  L.push(`    // Cooperative, zero-padded loads: consecutive threads read consecutive k of one row.`);
  L.push(`    for (var e = lid; e < ${T * TK}u; e += ${threads}u) {`);
  L.push(`      let i = e / ${TK}u; let kk = e % ${TK}u; let k = k0 + kk;`);
  L.push(`      var av = 0.0; if (m0 + i < M && k < K) { av = loadA(z, m0 + i, k); }`);
  L.push(`      var wv = 0.0; if (n0 + i < N && k < K) { wv = loadW(z, n0 + i, k); }`);
  L.push(`      As[kk * ${T}u + i] = av;`);
  L.push(`      Ws[kk * ${T}u + i] = wv;`);
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`    for (var kk = 0u; kk < ${TK}u; kk++) {`);
  L.push(`      let ab = kk * ${T}u + lid3.y * 4u; let wb = kk * ${T}u + lid3.x * 4u;`);
  L.push(`      let av = vec4<f32>(As[ab], As[ab + 1u], As[ab + 2u], As[ab + 3u]);`);
  L.push(`      let wv = vec4<f32>(Ws[wb], Ws[wb + 1u], Ws[wb + 2u], Ws[wb + 3u]);`);
  L.push(`      acc0 += av.x * wv; acc1 += av.y * wv; acc2 += av.z * wv; acc3 += av.w * wv;`);
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`  }`);
  L.push(`  let r = m0 + lid3.y * 4u; let n = n0 + lid3.x * 4u;`);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) L.push(`  store(z, r + ${i}u, n + ${j}u, acc${i}[${j}]);`);
  L.push(`}`);
  return L.join('\n');
}

export function emitMatmul(c: MatmulConfig): EmittedKernel {
  const bindings = matmulBindings(c);
  const v = c.variant;
  const dispatch: [number, number, number] =
    v.kind === 'subgroup'
      ? [ceilDiv(c.N, 4 * v.lanes), ceilDiv(c.M, v.rows), c.batch]
      : [ceilDiv(c.N, v.tile), ceilDiv(c.M, v.tile), c.batch];
  if (dispatch.some((d) => d > c.maxWorkgroupsPerDimension)) {
    throw new DittoError('E_GPU', `matmul ${c.M}×${c.N}×${c.K} (batch ${c.batch}) needs ${dispatch.join('×')} workgroups, over this adapter's ${c.maxWorkgroupsPerDimension} per dimension`);
  }
  const header = `// ditto matmul ${c.variant.kind}: C[${c.M},${c.N}] = A[${c.M},${c.K}] * W[${c.N},${c.K}]^T, batch ${c.batch}\n`;
  const wgsl = [
    header + enables(bindings.map((b) => b.elemType), v.kind === 'subgroup'),
    declareBindings(bindings),
    ACTIVATIONS_WGSL,
    commonWgsl(c),
    v.kind === 'subgroup' ? emitSubgroup(c, v) : emitTiled(c, v),
    '',
  ].join('\n');
  const workgroupSize: [number, number, number] = v.kind === 'subgroup' ? [v.lanes, 1, 1] : [v.tile / 4, v.tile / 4, 1];
  return { family: 'matmul', key: matmulKey(c), wgsl, entryPoint: 'main', workgroupSize, bindings, dispatch };
}
