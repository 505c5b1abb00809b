/**
 * The matmul family's data: problem, variants, resolved config, bindings, and the WGSL every
 * variant shares (shape consts, A/W loaders, the fused epilogue + guarded store). The variants'
 * emitters live in matmulSubgroup.ts, matmulTiled.ts and matmulSubgroupMatrix.ts; selection in
 * matmul.ts.
 */
import { DittoError } from '../../core/errors.ts';
import { cacheKey, ceilDiv, declareBindings } from './common.ts';
import type { KernelBinding, StorageDType } from './types.ts';

/** How A'[z][r][k] is read from the `a` buffer. */
export type MatmulALayout =
  /** a[offset + z·batchStride + r·rowStride + k] */
  | { kind: 'rows'; offset: number; rowStride: number; batchStride: number }
  /** Non-overlapping p×p patches of images [Bimg, channels, height, width] (NCHW): row r = (image,
   *  patch row, patch col) in row-major patch order, k = (channel, u, v). patch_embed as a matmul.
   *  `offset` (elements, absent when 0): where the first image starts, e.g. a CFG half not on an
   *  aligned byte. */
  | { kind: 'patches'; channels: number; height: number; width: number; patch: number; offset?: number };

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
  /** Multiply in f16 (f16 tiles and products, f32 accumulation) where the variant can; needs shader-f16. */
  f16Math?: boolean;
  siluInput?: boolean;
  bias?: boolean;
  /** Storage type of the bias (the compiler stores a layer's bias like its weight). Default f32. */
  biasDtype?: StorageDType;
  gelu?: boolean;
  gatedResidual?: MatmulGatedResidual;
}

/**
 * Software adapters (lavapipe): no workgroup memory, no barriers; each invocation owns `rows` rows ×
 * `cols` columns; A is loaded once per lane and shared with subgroupBroadcast.
 */
export interface MatmulSubgroupVariant {
  kind: 'subgroup';
  /** Rows per invocation: a multiple of `subgroup` (each lane loads rows/subgroup A rows), or fewer than `subgroup` when M is small. */
  rows: number;
  /** Invocations per workgroup. */
  lanes: number;
  /** Subgroup width the broadcasts assume (min(8, the adapter's minimum)). */
  subgroup: number;
  /** Columns per invocation (a multiple of 4). */
  cols: number;
  /** K values per block (4 or 8). */
  kBlock: number;
  /** K blocks per loop trip. */
  unroll: number;
  /** Read A / W rows as vec4s (16-byte aligned rows, K a multiple of 4): on lavapipe one per-lane vec4 load costs far less than four scalar ones. */
  vec4A: boolean;
  vec4W: boolean;
}

/**
 * Hardware adapters: tileM × tileN output tiles staged through workgroup memory in K steps of
 * tileK, threadM × threadN outputs per invocation; vec4 global loads where the layout is 16-byte
 * aligned; `stages: 2` double-buffers the tiles (the next tile is fetched into registers while the
 * current one is multiplied; one barrier per K step). `math: 'f16'` stages the tiles in f16 and
 * multiplies in f16, accumulating in f32.
 */
export interface MatmulTiledVariant {
  kind: 'tiled';
  tileM: number;
  tileN: number;
  tileK: number;
  threadM: number;
  threadN: number;
  vec4A: boolean;
  vec4W: boolean;
  stages: 1 | 2;
  math: 'f32' | 'f16';
}

/**
 * Adapters with Dawn's `chromium-experimental-subgroup-matrix`: tiles staged in workgroup memory,
 * multiplied by subgroup matrices (tensor cores where the driver maps them), results written back
 * through workgroup memory so the fused epilogue and the ragged-edge guards are the tiled variant's.
 */
export interface MatmulSubgroupMatrixVariant {
  kind: 'subgroup_matrix';
  /** One subgroup-matrix configuration of the adapter: left M×K, right K×N, result M×N. */
  fragM: number;
  fragN: number;
  fragK: number;
  component: 'f16' | 'f32';
  /** The adapter's maxSubgroupSize (the workgroup's x size is a multiple of it). */
  subgroupSize: number;
  /** Result fragments per subgroup along M and N; 2×2 subgroups per workgroup. */
  fragsM: number;
  fragsN: number;
  /** K per workgroup-memory tile (a multiple of fragK). */
  tileK: number;
}

export type MatmulVariant = MatmulSubgroupVariant | MatmulTiledVariant | MatmulSubgroupMatrixVariant;

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
  biasDtype: StorageDType;
  gelu: boolean;
  gatedResidual: MatmulGatedResidual | null;
  variant: MatmulVariant;
  /** For dispatch folding checks. */
  maxWorkgroupsPerDimension: number;
}

export function matmulKey(c: MatmulConfig): string {
  return cacheKey('matmul', c);
}

/** Elements of the `a` buffer the kernel may read. */
export function aElements(c: MatmulConfig): number {
  if (c.a.kind === 'patches') return (c.a.offset ?? 0) + (c.M / ((c.a.height / c.a.patch) * (c.a.width / c.a.patch))) * c.a.channels * c.a.height * c.a.width;
  return c.a.offset + (c.batch - 1) * c.a.batchStride + (c.M - 1) * c.a.rowStride + c.K;
}

export function cElements(c: MatmulConfig): number {
  return c.cOffset + (c.batch - 1) * c.cBatchStride + (c.M - 1) * c.cRowStride + c.N;
}

export function matmulBindings(c: MatmulConfig): KernelBinding[] {
  const b: KernelBinding[] = [
    { name: 'a', access: 'read', elemType: 'f32', elements: aElements(c) },
    { name: 'w', access: 'read', elemType: c.wDtype, elements: (c.batch - 1) * c.wBatchStride + c.N * c.K },
  ];
  if (c.bias) b.push({ name: 'bias', access: 'read', elemType: c.biasDtype, elements: c.N });
  const g = c.gatedResidual;
  if (g) {
    b.push({ name: 'gate', access: 'read', elemType: 'f32', elements: g.gateOffset + (ceilDiv(c.M, g.tokens) - 1) * g.gateRowStride + c.N });
    if (!g.inPlace) b.push({ name: 'residual', access: 'read', elemType: 'f32', elements: cElements(c) });
  }
  b.push({ name: 'c', access: 'read_write', elemType: 'f32', elements: cElements(c) });
  return b;
}

/** Whether A (rows layout) and W can be read as vec4s: every row start 16-byte aligned, K a multiple of 4. */
export function vec4Eligible(c: Pick<MatmulConfig, 'a' | 'K' | 'wBatchStride'>): { a: boolean; w: boolean } {
  const w = c.K % 4 === 0 && c.wBatchStride % 4 === 0;
  const a = w && c.a.kind === 'rows' && c.a.offset % 4 === 0 && c.a.rowStride % 4 === 0 && c.a.batchStride % 4 === 0;
  return { a, w };
}

/** Binding declarations; `a` and `w` as vec4 arrays when the variant reads them so. */
export function declareMatmulBindings(c: MatmulConfig, vec: { a: boolean; w: boolean }): string {
  const ok = vec4Eligible(c);
  if ((vec.a && !ok.a) || (vec.w && !ok.w)) throw new DittoError('E_INTERNAL', 'matmul: vec4 loads asked for on a layout that is not 16-byte aligned');
  return declareBindings(matmulBindings(c))
    .replace(/var<storage, read> a: array<f32>;/, vec.a ? 'var<storage, read> a: array<vec4<f32>>;' : '$&')
    .replace(/var<storage, read> w: array<(f16|f32)>;/, (m, t: string) => (vec.w ? `var<storage, read> w: array<vec4<${t}>>;` : m));
}

/**
 * WGSL: consts, loadA/loadW (scalar; loadA4/loadW4 reading a vec4 at k, k+1, k+2, k+3 when `vec`
 * says so), and the epilogue + guarded store shared by every variant.
 */
export function matmulPreamble(c: MatmulConfig, vec: { a: boolean; w: boolean } = { a: false, w: false }): string {
  const L: string[] = [];
  L.push(`const M = ${c.M}u;`, `const N = ${c.N}u;`, `const K = ${c.K}u;`);
  let aIndex: string;
  if (c.a.kind === 'rows') {
    aIndex = `${c.a.offset}u + z * ${c.a.batchStride}u + r * ${c.a.rowStride}u + k`;
  } else {
    const { channels: C, height: H, width: W, patch: P } = c.a;
    const base = c.a.offset ? `${c.a.offset}u + ` : '';
    const gw = W / P;
    const per = (H / P) * gw;
    L.push(
      `fn patchIndex(r: u32, k: u32) -> u32 {`,
      `  let img = r / ${per}u; let tok = r % ${per}u;`,
      `  let pr = tok / ${gw}u; let pc = tok % ${gw}u;`,
      `  let ch = k / ${P * P}u; let u = (k % ${P * P}u) / ${P}u; let v = k % ${P}u;`,
      `  return ${base}((img * ${C}u + ch) * ${H}u + pr * ${P}u + u) * ${W}u + pc * ${P}u + v;`,
      `}`,
    );
    aIndex = 'patchIndex(r, k)';
  }
  if (vec.a) {
    const aVal = `a[(${aIndex}) / 4u]`;
    L.push(`fn loadA4(z: u32, r: u32, k: u32) -> vec4<f32> { let v = ${aVal}; return ${c.siluInput ? 'v / (vec4<f32>(1.0) + exp(-v))' : 'v'}; }`);
  } else {
    const aVal = `a[${aIndex}]`;
    L.push(`fn loadA(z: u32, r: u32, k: u32) -> f32 { return ${c.siluInput ? `silu(${aVal})` : aVal}; }`);
  }
  if (vec.w) L.push(`fn loadW4(z: u32, n: u32, k: u32) -> vec4<f32> { return vec4<f32>(w[(z * ${c.wBatchStride}u + n * K + k) / 4u]); }`);
  else L.push(`fn loadW(z: u32, n: u32, k: u32) -> f32 { return f32(w[z * ${c.wBatchStride}u + n * K + k]); }`);
  const S: string[] = [];
  S.push(`fn store(z: u32, r: u32, n: u32, acc: f32) {`, `  if (r >= M || n >= N) { return; }`);
  S.push(`  let ci = ${c.cOffset}u + z * ${c.cBatchStride}u + r * ${c.cRowStride}u + n;`);
  S.push(`  var v = acc;`);
  if (c.bias) S.push(c.biasDtype === 'f16' ? `  v += f32(bias[n]);` : `  v += bias[n];`);
  if (c.gelu) S.push(`  v = gelu_tanh(v);`);
  const g = c.gatedResidual;
  if (g) {
    S.push(`  let g = gate[${g.gateOffset}u + (r / ${g.tokens}u) * ${g.gateRowStride}u + n];`);
    S.push(`  v = ${g.inPlace ? 'c[ci]' : 'residual[ci]'} + g * v;`);
  }
  S.push(`  c[ci] = v;`, `}`);
  return [...L, ...S].join('\n');
}

