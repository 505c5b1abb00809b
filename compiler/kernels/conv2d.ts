/**
 * conv2d family: stride-1 2-D convolution as an implicit GEMM (no im2col buffer).
 *
 *   out[b, o, y, x] = bias[o] + Σ_{c,u,v} w[o, c, u, v] · in′[b, c, y + u − p, x + v − p]  (+ residual)
 *
 * is the matmul C[M, N] = A[M, K] · W[N, K]ᵀ with rows M = B·OH·OW output pixels, columns N = Cout,
 * K = Cin·k·k taps in the weight's own (c, u, v) order — so the PyTorch weight [Cout, Cin, k, k] is W
 * as stored. A is never materialised: a tile load computes the pixel and tap of each element and
 * reads the input, or 0 in the zero padding. `in′` is the input, or its nearest-neighbour ×f
 * upsampling folded into the indexing (`upsample: f`, in′[y][x] = in[⌊y/f⌋][⌊x/f⌋]), so the VAE's
 * Upsample2D needs no 4×-larger intermediate. Epilogue: + bias[o], + residual (a buffer laid out like
 * the output, or the output itself: in place).
 *
 * Two variants, picked like the matmul family's (docs/kernels.md):
 * - `tiled` (hardware): a T×T output tile (T = 64 when both M and N reach 64, else 32) per
 *   workgroup of (T/4)² threads, each computing 4 pixels × 4 channels; K in steps of TK (16, halved
 *   until the two tiles fit workgroup memory). Pixels are the fast thread axis, so stores of one
 *   channel plane are contiguous. Tile loads outside the problem are zero.
 * - `subgroup` (software adapters with subgroups, docs/lavapipe.md "Kernels on the software adapter"): no workgroup memory or
 *   barriers; each invocation owns R pixels × 4 channels, lane l loads the im2col values of pixel
 *   r0 + l for an 8-wide K block and subgroupBroadcast shares them. Padding taps are selected to 0
 *   without a branch (broadcasts need uniform control flow); pixels/channels past M/N are clamped
 *   and dropped at the store; the K tail is a statically masked block (K is a const).
 * Both guard every store, so ragged M, N, K need no padded buffers.
 */
import { DittoError } from '../../core/errors.ts';
import { assertPositiveInts, cacheKey, ceilDiv, checkBindingSizes, declareBindings, enables, fold1d } from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

export interface Conv2dProblem {
  B: number;
  /** Input channels, height and width (before the folded upsampling). */
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  /** Square kernel side k. */
  kernel: number;
  /** Zeros on each side of the (upsampled) input. */
  padding: number;
  /** Nearest-neighbour upsampling of the input folded into the indexing (default 1: none). */
  upsample?: number;
  bias?: boolean;
  /** 'buffer': + a `residual` tensor shaped like the output; 'inPlace': + the output's current value. */
  residual?: 'none' | 'buffer' | 'inPlace';
  wDtype?: StorageDType;
}

export interface Conv2dConfig {
  B: number;
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  kernel: number;
  padding: number;
  upsample: number;
  bias: boolean;
  residual: 'none' | 'buffer' | 'inPlace';
  wDtype: StorageDType;
  variant: Conv2dVariant;
  maxWorkgroupsPerDimension: number;
}

export type Conv2dVariant =
  | { kind: 'tiled'; tile: 32 | 64; tileK: number }
  | { kind: 'subgroup'; /** pixels per invocation = subgroup lanes used */ rows: number; /** invocations per workgroup */ lanes: number };

/** Output height and width of a conv2d problem/config. */
export function conv2dOutputSize(c: Pick<Conv2dProblem, 'H' | 'W' | 'kernel' | 'padding' | 'upsample'>): [number, number] {
  const f = c.upsample ?? 1;
  return [c.H * f + 2 * c.padding - c.kernel + 1, c.W * f + 2 * c.padding - c.kernel + 1];
}

function tileBytes(tile: number, tileK: number): number {
  return 2 * tile * tileK * 4;
}

export function selectConv2d(p: Conv2dProblem, caps: AdapterCaps): Conv2dConfig {
  const upsample = p.upsample ?? 1;
  assertPositiveInts('conv2d', { B: p.B, Cin: p.Cin, H: p.H, W: p.W, Cout: p.Cout, kernel: p.kernel, upsample });
  if (!Number.isInteger(p.padding) || p.padding < 0) throw new DittoError('E_INTERNAL', `conv2d: padding must be a non-negative integer, got ${p.padding}`);
  const [OH, OW] = conv2dOutputSize({ ...p, upsample });
  if (OH < 1 || OW < 1) throw new DittoError('E_INTERNAL', `conv2d: a ${p.kernel}×${p.kernel} kernel with padding ${p.padding} does not fit a ${p.H}×${p.W} input`);
  const wDtype = p.wDtype ?? 'f32';
  if (wDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'conv2d: f16 weights need the adapter feature shader-f16, which this adapter lacks');
  const M = p.B * OH * OW;
  let variant: Conv2dVariant;
  if (caps.isSoftware && caps.hasSubgroups && caps.subgroupMinSize >= 4) {
    const rows = Math.min(8, caps.subgroupMinSize, M);
    const sg = Math.min(8, caps.subgroupMinSize);
    variant = { kind: 'subgroup', rows, lanes: Math.min(caps.maxInvocations, p.Cout <= 4 * sg ? sg : 2 * sg) };
  } else {
    const big = M >= 64 && p.Cout >= 64 && caps.maxInvocations >= 256;
    let tile: 32 | 64 = big ? 64 : 32;
    let tileK = 16;
    while (tileBytes(tile, tileK) > caps.maxWorkgroupStorage && tileK > 4) tileK /= 2;
    if (tileBytes(tile, tileK) > caps.maxWorkgroupStorage && tile === 64) tile = 32;
    if (tileBytes(tile, tileK) > caps.maxWorkgroupStorage || (tile / 4) ** 2 > caps.maxInvocations) {
      throw new DittoError('E_GPU', `conv2d: this adapter's workgroup limits (${caps.maxWorkgroupStorage} bytes, ${caps.maxInvocations} invocations) are below WebGPU's minimum`);
    }
    variant = { kind: 'tiled', tile, tileK };
  }
  const c: Conv2dConfig = {
    B: p.B, Cin: p.Cin, H: p.H, W: p.W, Cout: p.Cout, kernel: p.kernel, padding: p.padding, upsample,
    bias: p.bias ?? false, residual: p.residual ?? 'none', wDtype, variant,
    maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension,
  };
  checkBindingSizes('conv2d', conv2dBindings(c), caps);
  conv2dDispatch(c); // throws when the grid is too large
  return c;
}

export function conv2dKey(c: Conv2dConfig): string {
  return cacheKey('conv2d', c);
}

export function conv2dBindings(c: Conv2dConfig): KernelBinding[] {
  const [OH, OW] = conv2dOutputSize(c);
  const outElems = c.B * c.Cout * OH * OW;
  const b: KernelBinding[] = [
    { name: 'x', access: 'read', elemType: 'f32', elements: c.B * c.Cin * c.H * c.W },
    { name: 'w', access: 'read', elemType: c.wDtype, elements: c.Cout * c.Cin * c.kernel * c.kernel },
  ];
  if (c.bias) b.push({ name: 'bias', access: 'read', elemType: 'f32', elements: c.Cout });
  if (c.residual === 'buffer') b.push({ name: 'residual', access: 'read', elemType: 'f32', elements: outElems });
  b.push({ name: 'y', access: 'read_write', elemType: 'f32', elements: outElems });
  return b;
}

function conv2dDispatch(c: Conv2dConfig): [number, number, number] {
  const [OH, OW] = conv2dOutputSize(c);
  const v = c.variant;
  if (v.kind === 'subgroup') {
    // x: channel groups, y (folded into z when there are many): pixel groups.
    const x = ceilDiv(c.Cout, 4 * v.lanes);
    const [y, z] = fold1d(ceilDiv(c.B * OH * OW, v.rows), c.maxWorkgroupsPerDimension);
    if (x > c.maxWorkgroupsPerDimension) throw new DittoError('E_GPU', `conv2d: ${x} channel groups exceed this adapter's ${c.maxWorkgroupsPerDimension} workgroups per dimension`);
    return [x, y, z];
  }
  const T = v.tile;
  // x: pixel tiles (folded into x·y when there are many), z: channel tiles.
  const [x, y] = fold1d(ceilDiv(c.B * OH * OW, T), c.maxWorkgroupsPerDimension);
  const z = ceilDiv(c.Cout, T);
  if (z > c.maxWorkgroupsPerDimension) throw new DittoError('E_GPU', `conv2d: ${z} channel tiles exceed this adapter's ${c.maxWorkgroupsPerDimension} workgroups per dimension`);
  return [x, y, z];
}

/** WGSL shared by both variants: consts, loadA (implicit im2col, 0 in the padding), loadW, store. */
function commonWgsl(c: Conv2dConfig): string {
  const [OH, OW] = conv2dOutputSize(c);
  const k = c.kernel;
  const IH = c.H * c.upsample;
  const IW = c.W * c.upsample;
  const L: string[] = [];
  L.push(`const M = ${c.B * OH * OW}u;   // output pixels`);
  L.push(`const N = ${c.Cout}u;  // output channels`);
  L.push(`const K = ${c.Cin * k * k}u;  // taps (c, u, v)`);
  L.push(`const OHW = ${OH * OW}u;`);
  // Branch-free: out-of-image taps read a clamped pixel and select 0 (subgroup broadcasts follow).
  L.push(`fn loadA(r: u32, kk: u32) -> f32 {`);
  L.push(`  let b = r / OHW; let p = r % OHW;`);
  L.push(`  let oy = i32(p / ${OW}u); let ox = i32(p % ${OW}u);`);
  L.push(`  let ch = kk / ${k * k}u; let t = kk % ${k * k}u;`);
  L.push(`  let iy = oy + i32(t / ${k}u) - ${c.padding}; let ix = ox + i32(t % ${k}u) - ${c.padding};`);
  L.push(`  let inside = iy >= 0 && ix >= 0 && iy < ${IH} && ix < ${IW};`);
  const cy = `u32(clamp(iy, 0, ${IH - 1}))`;
  const cx = `u32(clamp(ix, 0, ${IW - 1}))`;
  const sy = c.upsample > 1 ? `${cy} / ${c.upsample}u` : cy;
  const sx = c.upsample > 1 ? `${cx} / ${c.upsample}u` : cx;
  L.push(`  return select(0.0, x[((b * ${c.Cin}u + ch) * ${c.H}u + ${sy}) * ${c.W}u + ${sx}], inside);`);
  L.push(`}`);
  L.push(`fn loadW(n: u32, kk: u32) -> f32 { return f32(w[n * K + kk]); }`);
  L.push(`fn store(r: u32, n: u32, acc: f32) {`);
  L.push(`  if (r >= M || n >= N) { return; }`);
  L.push(`  let yi = ((r / OHW) * N + n) * OHW + r % OHW;`);
  L.push(`  var v = acc;`);
  if (c.bias) L.push(`  v += bias[n];`);
  if (c.residual === 'buffer') L.push(`  v += residual[yi];`);
  if (c.residual === 'inPlace') L.push(`  v += y[yi];`);
  L.push(`  y[yi] = v;`);
  L.push(`}`);
  return L.join('\n');
}

function emitTiled(c: Conv2dConfig, v: Extract<Conv2dVariant, { kind: 'tiled' }>, dispatch: [number, number, number]): string {
  const T = v.tile;
  const TK = v.tileK;
  const side = T / 4;
  const L: string[] = [];
  L.push(`var<workgroup> As: array<f32, ${T * TK}>; // [k][pixel]`);
  L.push(`var<workgroup> Ws: array<f32, ${T * TK}>; // [k][channel]`);
  L.push(`@compute @workgroup_size(${side}, ${side})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let m0 = (wid.x + wid.y * ${dispatch[0]}u) * ${T}u;`);
  L.push(`  let n0 = wid.z * ${T}u;`);
  L.push(`  if (m0 >= M) { return; } // uniform per workgroup (folded dispatch tail)`);
  L.push(`  var acc0 = vec4<f32>(0.0); var acc1 = vec4<f32>(0.0); var acc2 = vec4<f32>(0.0); var acc3 = vec4<f32>(0.0);`);
  L.push(`  for (var k0 = 0u; k0 < K; k0 += ${TK}u) {`);
  L.push(`    for (var e = lid; e < ${T * TK}u; e += ${side * side}u) {`);
  L.push(`      // Consecutive threads take consecutive pixels of one tap: neighbouring input reads.`);
  L.push(`      let i = e % ${T}u; let kk = e / ${T}u; let kq = k0 + kk;`);
  L.push(`      var av = 0.0; if (m0 + i < M && kq < K) { av = loadA(m0 + i, kq); }`);
  L.push(`      As[kk * ${T}u + i] = av;`);
  L.push(`      let j = e / ${TK}u; let kw = e % ${TK}u; let kr = k0 + kw;`);
  L.push(`      var wv = 0.0; if (n0 + j < N && kr < K) { wv = loadW(n0 + j, kr); }`);
  L.push(`      Ws[kw * ${T}u + j] = wv;`);
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`    for (var kk = 0u; kk < ${TK}u; kk++) {`);
  L.push(`      let ab = kk * ${T}u + lid3.x * 4u; let wb = kk * ${T}u + lid3.y * 4u;`);
  L.push(`      let av = vec4<f32>(As[ab], As[ab + 1u], As[ab + 2u], As[ab + 3u]);`);
  L.push(`      let wv = vec4<f32>(Ws[wb], Ws[wb + 1u], Ws[wb + 2u], Ws[wb + 3u]);`);
  L.push(`      acc0 += wv.x * av; acc1 += wv.y * av; acc2 += wv.z * av; acc3 += wv.w * av;`);
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`  }`);
  L.push(`  // acc_j[i]: pixel r + i, channel n + j.`);
  L.push(`  let r = m0 + lid3.x * 4u; let n = n0 + lid3.y * 4u;`);
  for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) L.push(`  store(r + ${i}u, n + ${j}u, acc${j}[${i}]);`);
  L.push(`}`);
  return L.join('\n');
}

function emitSubgroup(c: Conv2dConfig, v: Extract<Conv2dVariant, { kind: 'subgroup' }>, dispatch: [number, number, number]): string {
  const R = v.rows;
  const K = c.Cin * c.kernel * c.kernel;
  const kFull = Math.floor(K / 8) * 8;
  const tail = K - kFull;
  // One 8-wide K block; valid(j) says statically whether k0 + j < K (false only in the tail).
  const block = (valid: (j: number) => boolean, ind: string): string => {
    const B: string[] = [];
    const av = (j: number) => (valid(j) ? `loadA(ra, k0 + ${j}u)` : '0.0');
    B.push(`let a0 = vec4<f32>(${[0, 1, 2, 3].map(av).join(', ')});`);
    B.push(`let a1 = vec4<f32>(${[4, 5, 6, 7].map(av).join(', ')});`);
    for (let j = 0; j < 4; j++) {
      const wv = (kk: number) => (valid(kk) ? `loadW(n${j}, k0 + ${kk}u)` : '0.0');
      B.push(`let w${j}0 = vec4<f32>(${[0, 1, 2, 3].map(wv).join(', ')});`);
      B.push(`let w${j}1 = vec4<f32>(${[4, 5, 6, 7].map(wv).join(', ')});`);
    }
    for (let r = 0; r < R; r++) {
      B.push(`{ let x0 = subgroupBroadcast(a0, ${r}u); let x1 = subgroupBroadcast(a1, ${r}u);`);
      B.push(`  acc${r} += vec4<f32>(dot(x0, w00) + dot(x1, w01), dot(x0, w10) + dot(x1, w11), dot(x0, w20) + dot(x1, w21), dot(x0, w30) + dot(x1, w31)); }`);
    }
    return B.map((l) => ind + l).join('\n');
  };
  const L: string[] = [];
  L.push(`@compute @workgroup_size(${v.lanes})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sl: u32) {`);
  L.push(`  let r0 = (wid.y + wid.z * ${dispatch[1]}u) * ${R}u;`);
  L.push(`  if (r0 >= M) { return; } // uniform per workgroup (folded dispatch tail)`);
  L.push(`  let c0 = wid.x * ${4 * v.lanes}u + lid * 4u;`);
  L.push(`  // Out-of-range pixels/channels read the last valid one; store() drops their results.`);
  L.push(`  let ra = min(r0 + sl, M - 1u);`);
  for (let j = 0; j < 4; j++) L.push(`  let n${j} = min(c0 + ${j}u, N - 1u);`);
  for (let r = 0; r < R; r++) L.push(`  var acc${r} = vec4<f32>(0.0);`);
  if (kFull > 0) {
    L.push(`  for (var k0 = 0u; k0 < ${kFull}u; k0 += 8u) {`);
    L.push(block(() => true, '    '));
    L.push(`  }`);
  }
  if (tail > 0) {
    L.push(`  {`, `    let k0 = ${kFull}u;`);
    L.push(block((j) => j < tail, '    '));
    L.push(`  }`);
  }
  for (let r = 0; r < R; r++) for (let j = 0; j < 4; j++) L.push(`  store(r0 + ${r}u, c0 + ${j}u, acc${r}[${j}]);`);
  L.push(`}`);
  return L.join('\n');
}

export function emitConv2d(c: Conv2dConfig): EmittedKernel {
  const bindings = conv2dBindings(c);
  const dispatch = conv2dDispatch(c);
  const [OH, OW] = conv2dOutputSize(c);
  const v = c.variant;
  const header = `// ditto conv2d ${v.kind}: [${c.B},${c.Cin},${c.H},${c.W}]${c.upsample > 1 ? ` upsampled ×${c.upsample}` : ''} * [${c.Cout},${c.Cin},${c.kernel},${c.kernel}] pad ${c.padding} -> [${c.B},${c.Cout},${OH},${OW}]`;
  const wgsl = [
    header,
    enables(bindings.map((b) => b.elemType), v.kind === 'subgroup') + declareBindings(bindings),
    commonWgsl(c),
    v.kind === 'subgroup' ? emitSubgroup(c, v, dispatch) : emitTiled(c, v, dispatch),
    '',
  ].join('\n');
  const workgroupSize: [number, number, number] = v.kind === 'subgroup' ? [v.lanes, 1, 1] : [v.tile / 4, v.tile / 4, 1];
  return { family: 'conv2d', key: conv2dKey(c), wgsl, entryPoint: 'main', workgroupSize, bindings, dispatch };
}
