/**
 * Attention family: softmax(q·kᵀ·scale)·v per head, no mask, on a fused qkv [B, T, 3D] in timm
 * layout (per token: q of heads 0..H−1, then k, then v; each head's hd values contiguous) → out
 * [B, T, D] (heads concatenated, head h at columns h·hd…).
 *
 * Flash attention: a workgroup owns a tile of queries of one (head, sample) and walks the keys in
 * blocks, keeping the running max, denominator and output of each query in registers (online
 * softmax); the T×T scores are never written. Register-blocked like the matmul: each invocation
 * owns `queries` query rows and scores a block of `keys` keys at a time, so every K/V value it
 * reads feeds `queries` FMAs, and the output is rescaled once per block, not per key. The loops
 * over the head dim and the block are written out (hd is a const), so q, o and the scores are
 * plain registers, never arrays indexed at run time. Scores are kept in log2 units (q is scaled by
 * scale·log2 e) so the softmax uses exp2.
 *
 * Variants, picked by `selectAttention` from the adapter:
 * - `subgroup` (software adapters with subgroups): a workgroup is one subgroup; each lane loads a
 *   few vec4s of every K/V row and `subgroupBroadcast` gives every lane the whole row, as the
 *   matmul shares its A rows. On lavapipe a load, even at a lane-uniform address, costs a
 *   bounds-checked scalar load per component (docs/lavapipe.md), a constant-lane broadcast far less:
 *   this cut the cost of K/V 3× against reading them at lane-uniform addresses. No workgroup
 *   memory, no barriers.
 * - `workgroup` (hardware): K/V tiles of `kTile` keys are staged in workgroup memory by the whole
 *   workgroup (coalesced), then each thread runs the same register-blocked blocks over the tile.
 * - `simple` (fallback when a head is too wide for registers, hd > MAX_REGISTER_HD, e.g. the VAE's
 *   pixel attention): one query per invocation, K/V tiles in workgroup memory, head loops at run time.
 *
 * hd not a multiple of 4: the last vec4 is statically masked. Ragged T: key rows past T are read
 * clamped to the last row and their scores forced to −∞ (p = 0); query rows past T load the last
 * row and do not store. All accumulation is f32.
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
  /** Only these query rows (ascending, < T), against every key: out is [B, queries.length, D]
   *  (a partial compute, docs/cache-rules.md). Absent: every row. */
  queries?: readonly number[];
}

export type AttentionVariant =
  /** lanes = one subgroup; each lane `queries` queries; K/V read at lane-uniform addresses, `keys` per block. */
  | { kind: 'subgroup'; lanes: number; queries: number; keys: number }
  /** `threads` × `queries` queries per workgroup; K/V tiles of `kTile` keys in workgroup memory, `keys` per block. */
  | { kind: 'workgroup'; threads: number; queries: number; keys: number; kTile: number }
  /** One query per invocation, `qTile` per workgroup; K/V tiles of `kTile` keys in workgroup memory. */
  | { kind: 'simple'; qTile: number; kTile: number };

export interface AttentionConfig {
  B: number;
  T: number;
  heads: number;
  headDim: number;
  scale: number;
  qkvDtype: StorageDType;
  variant: AttentionVariant;
  /** The query rows computed (absent: all T), baked into the WGSL as `QIDX`. */
  queries?: number[];
}

/** Widest head the register-blocked variants take: q and o of every query live in registers. */
export const MAX_REGISTER_HD = 128;

/** Bytes of workgroup memory: K and V tiles of kTile × ⌈hd/4⌉ vec4s. */
export function attentionStorageBytes(kTile: number, headDim: number): number {
  return 2 * kTile * Math.ceil(headDim / 4) * 16;
}

const pow2AtLeast = (n: number) => 1 << Math.ceil(Math.log2(n));

/** Largest power-of-two K/V tile ≤ `want` (and not far past T) that fits workgroup memory; 0 if none. */
function fitKTile(want: number, p: AttentionProblem, caps: AdapterCaps): number {
  let kTile = Math.min(want, pow2AtLeast(p.T));
  while (kTile > 1 && attentionStorageBytes(kTile, p.headDim) > caps.maxWorkgroupStorage) kTile /= 2;
  return attentionStorageBytes(kTile, p.headDim) > caps.maxWorkgroupStorage ? 0 : kTile;
}

function selectVariant(p: AttentionProblem, caps: AdapterCaps): AttentionVariant {
  if (p.headDim <= MAX_REGISTER_HD) {
    if (caps.isSoftware && caps.hasSubgroups && caps.subgroupMinSize >= 4) {
      // One SIMD vector per workgroup (8 lanes on lavapipe), K/V rows shared by broadcasts; 8 queries
      // per lane. One key per block keeps the written-out loop body small (lavapipe's JIT time grows
      // with it; 2 keys per block measured no faster) at the cost of a rescale per key
      // (docs/kernels.md). Wider heads get 4 queries, so q and o stay ≈ 1k floats per lane.
      const lanes = Math.min(caps.maxInvocations, caps.subgroupMinSize);
      const queries = Math.max(1, Math.min(p.headDim <= 80 ? 8 : 4, Math.ceil(p.T / lanes)));
      return { kind: 'subgroup', lanes, queries, keys: 1 };
    }
    // Hardware: q and o of every query in registers, ≈160 floats per thread at most (wide heads get
    // one query per thread); 64 threads; K/V tiles of 32 keys.
    const queries = Math.max(1, Math.min(4, Math.floor(80 / p.headDim)));
    let threads = 64;
    while (threads > caps.maxInvocations) threads /= 2;
    threads = Math.max(1, Math.min(threads, pow2AtLeast(Math.ceil(p.T / queries))));
    const kTile = fitKTile(32, p, caps);
    const keys = Math.min(4, kTile);
    if (kTile > 0) return { kind: 'workgroup', threads, queries, keys, kTile };
  }
  // Fallback: one query per invocation (software adapters: small workgroups keep private state small).
  let qTile = caps.isSoftware ? 32 : 64;
  while (qTile > caps.maxInvocations) qTile /= 2;
  qTile = Math.max(1, Math.min(qTile, pow2AtLeast(p.T)));
  const kTile = fitKTile(32, p, caps);
  if (kTile === 0) {
    throw new DittoError('E_GPU', `attention: head dim ${p.headDim} does not fit this adapter's workgroup memory (${caps.maxWorkgroupStorage} bytes)`);
  }
  return { kind: 'simple', qTile, kTile };
}

export function selectAttention(p: AttentionProblem, caps: AdapterCaps): AttentionConfig {
  assertPositiveInts('attention', { B: p.B, T: p.T, heads: p.heads, headDim: p.headDim });
  const qkvDtype = p.qkvDtype ?? 'f32';
  if (qkvDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'attention: f16 storage needs shader-f16');
  const c: AttentionConfig = {
    B: p.B, T: p.T, heads: p.heads, headDim: p.headDim, scale: p.scale ?? 1 / Math.sqrt(p.headDim), qkvDtype,
    variant: selectVariant(p, caps),
    ...(p.queries ? { queries: [...p.queries] } : {}),
  };
  p.queries?.forEach((t, j) => {
    if (!Number.isInteger(t) || t < 0 || t >= p.T || (j > 0 && t <= p.queries![j - 1]!)) {
      throw new DittoError('E_INTERNAL', `attention: the query rows must be ascending whole numbers below ${p.T}, got ${t} at ${j}`);
    }
  });
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
    { name: 'out', access: 'read_write', elemType: 'f32', elements: c.B * queryRows(c) * D },
  ];
}

/** Query rows computed per sample and head: T, or the gathered ones. */
export function queryRows(c: { T: number; queries?: readonly number[] }): number {
  return c.queries?.length ?? c.T;
}

/** WGSL: the qkv row of query `i` (clamped to the last one) — the i-th gathered row, or row i. */
function queryRow(c: AttentionConfig, i: string): string {
  return c.queries ? `QIDX[min(${i}, NQ - 1u)]` : `min(${i}, T - 1u)`;
}

/** Queries per workgroup. */
function queryTile(v: AttentionVariant): number {
  switch (v.kind) {
    case 'subgroup': return v.lanes * v.queries;
    case 'workgroup': return v.threads * v.queries;
    case 'simple': return v.qTile;
  }
}

function attentionDispatch(c: AttentionConfig): [number, number, number] {
  return [Math.ceil(queryRows(c) / queryTile(c.variant)), c.heads, c.B];
}

/** Whether qkv is read as vec4s (hd % 4 = 0: every row of every head starts on a vec4). */
function vec4Rows(c: AttentionConfig): boolean {
  return c.headDim % 4 === 0 && c.variant.kind === 'subgroup';
}

/** Head values [4d, 4d+4) of the row starting at element `row` as a vec4, from `qkv4` (vec4 view). */
function load4v(row: string, d: number | string): string {
  return `vec4<f32>(qkv4[(${row}) / 4u + ${typeof d === 'number' ? `${d}u` : d}])`;
}

/**
 * The register-blocked flash body shared by the `subgroup` and `workgroup` variants: per query r
 * (rows `qrow{r}`) q and o as HD4 vec4 registers, then `blockLoop` (which opens a loop over key
 * blocks and defines `kb`, the first key of the block, and `kvec(j, d, part)` for K/V vec4s).
 */
interface RegisterBody {
  /** WGSL vec4 of head values [4d, 4d+4) of the qkv row starting at element `row`, d at run time. */
  load: (row: string, d: string) => string;
  queries: number;
  keys: number;
  /** Lines opening the loop(s) over key blocks (already indented), and their closing lines. */
  open: string[];
  close: string[];
  /** WGSL expression of key j of the block: its K (part 1) or V (part 2) vec4 d. */
  kvec: (j: number, d: number, part: 1 | 2) => string;
  /** Whether key j of the block may lie past T (then its score is masked). */
  maybePastT: boolean;
}

/** = HD4 (out holds at least one row), but opaque to the shader compiler, so the per-lane load and
 *  store loops stay loops instead of being written out (lavapipe unrolls constant trip counts). */
const HEAD_LOOP = 'min(HD4, arrayLength(&out))';

function registerFlash(c: AttentionConfig, body: RegisterBody, ind: string): string[] {
  const HD4 = Math.ceil(c.headDim / 4);
  const { queries: Q, keys: KB } = body;
  const L: string[] = [];
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  for (let r = 0; r < Q; r++) {
    L.push(range(HD4).map((d) => `var q${r}_${d} = vec4<f32>(0.0);`).join(' '));
    L.push(range(HD4).map((d) => `var o${r}_${d} = vec4<f32>(0.0);`).join(' '));
    L.push(`var m${r} = -1.0e30; var l${r} = 0.0;`);
  }
  // Each lane's query rows are its own (a gather per scalar on a CPU adapter, written out per lane):
  // a loop that shifts each loaded vec4 through the registers keeps that code to one copy.
  L.push(`for (var d = 0u; d < ${HEAD_LOOP}; d++) {`);
  for (let r = 0; r < Q; r++) {
    L.push(`  ${range(HD4 - 1).map((d) => `q${r}_${d} = q${r}_${d + 1};`).join(' ')} q${r}_${HD4 - 1} = ${body.load(`qrow${r}`, 'd')} * QSCALE;`);
  }
  L.push(`}`);
  // Declared once so each block's scores are plain registers, reused as its probabilities.
  L.push(range(Q).map((r) => range(KB).map((j) => `var s${r}_${j}: f32;`).join(' ')).join(' '));
  L.push(...body.open);
  const I = '  ';
  for (let j = 0; j < KB; j++) {
    L.push(`${I}{`);
    for (let d = 0; d < HD4; d++) L.push(`${I}  let kk${d} = ${body.kvec(j, d, 1)};`);
    for (let r = 0; r < Q; r++) {
      L.push(`${I}  s${r}_${j} = ${range(HD4).map((d) => `dot(q${r}_${d}, kk${d})`).join(' + ')};`);
    }
    if (body.maybePastT) L.push(`${I}  if (kb + ${j}u >= T) { ${range(Q).map((r) => `s${r}_${j} = -1.0e30;`).join(' ')} }`);
    L.push(`${I}}`);
  }
  for (let r = 0; r < Q; r++) {
    const mx = range(KB).reduce((a, j) => `max(${a}, s${r}_${j})`, `m${r}`);
    L.push(`${I}{ let mn = ${mx}; let alpha = exp2(m${r} - mn); m${r} = mn;`);
    L.push(`${I}  ${range(KB).map((j) => `s${r}_${j} = exp2(s${r}_${j} - mn);`).join(' ')}`);
    L.push(`${I}  l${r} = l${r} * alpha + ${range(KB).map((j) => `s${r}_${j}`).join(' + ')};`);
    L.push(`${I}  ${range(HD4).map((d) => `o${r}_${d} *= alpha;`).join(' ')} }`);
  }
  for (let j = 0; j < KB; j++) {
    for (let d = 0; d < HD4; d++) {
      L.push(`${I}{ let v = ${body.kvec(j, d, 2)}; ${range(Q).map((r) => `o${r}_${d} += s${r}_${j} * v;`).join(' ')} }`);
    }
  }
  L.push(...body.close);
  return L.map((l) => ind + l);
}

/** Stores o/l of each query (shifted out of the registers one vec4 per trip, like the q loads). */
function storeOutputs(c: AttentionConfig, Q: number, qi: (r: number) => string): string[] {
  const HD4 = Math.ceil(c.headDim / 4);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const L: string[] = [];
  const NQ = c.queries ? 'NQ' : 'T';
  for (let r = 0; r < Q; r++) L.push(`  let orow${r} = (b * ${NQ} + ${qi(r)}) * D + h * HD; let inv${r} = 1.0 / l${r};`);
  L.push(`  for (var d = 0u; d < ${HEAD_LOOP}; d++) {`);
  for (let r = 0; r < Q; r++) {
    const comps = [0, 1, 2, 3].map((k) => {
      const st = `out[orow${r} + 4u * d + ${k}u] = v[${k}];`;
      return c.headDim % 4 === 0 ? st : `if (4u * d + ${k}u < HD) { ${st} }`;
    });
    L.push(`    if (${qi(r)} < ${NQ}) { let v = o${r}_0 * inv${r}; ${comps.join(' ')} }`);
    L.push(`    ${range(HD4 - 1).map((d) => `o${r}_${d} = o${r}_${d + 1};`).join(' ')}`);
  }
  L.push(`  }`);
  return L;
}

/** `ld4(row, d)`: head values [4d, 4d+4) of the row starting at `row`, zero past hd (d at run time). */
function ld4Fn(hd: number): string[] {
  if (hd % 4 === 0) return [`fn ld4(i: u32, d: u32) -> vec4<f32> { let e = i + 4u * d; return vec4<f32>(f32(qkv[e]), f32(qkv[e + 1u]), f32(qkv[e + 2u]), f32(qkv[e + 3u])); }`];
  return [
    `fn ld4(i: u32, d: u32) -> vec4<f32> {`,
    `  var v = vec4<f32>(0.0);`,
    `  for (var k = 0u; k < 4u; k++) { if (4u * d + k < HD) { v[k] = f32(qkv[i + 4u * d + k]); } }`,
    `  return v;`,
    `}`,
  ];
}

/**
 * The opening both register variants share: one workgroup per (query tile, head, sample), `threads`
 * invocations of `queries` queries each, query r of an invocation at qt + r·threads (rows past T
 * read the last row and are not stored).
 */
function registerPrologue(c: AttentionConfig, threads: number, queries: number): string[] {
  const L = [
    `@compute @workgroup_size(${threads})`,
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`,
    `  let b = wid.z; let h = wid.y;`,
    `  let base = b * T * D3 + h * HD;`,
    `  let qt = wid.x * ${threads * queries}u + lid;`,
  ];
  for (let r = 0; r < queries; r++) L.push(`  let qrow${r} = base + ${queryRow(c, `qt + ${r * threads}u`)} * D3;`);
  return L;
}

function emitSubgroupVariant(c: AttentionConfig, v: Extract<AttentionVariant, { kind: 'subgroup' }>): string[] {
  const HD4 = Math.ceil(c.headDim / 4);
  const L: string[] = [];
  const ragged = c.T % v.keys !== 0;
  if (!vec4Rows(c)) L.push(...ld4Fn(c.headDim));
  L.push(...registerPrologue(c, v.lanes, v.queries));
  // Each lane loads vec4s lid, lid + lanes, … of every K and V row of the block (per-lane vec4
  // loads, ⌈HD4/lanes⌉ each), and subgroupBroadcast hands every lane the whole row: on lavapipe a
  // constant-lane broadcast is cheap, where a load (even at a lane-uniform address) costs a
  // bounds-checked scalar load per component. Lanes past HD4 load the last vec4 again (unused).
  const parts = Math.ceil(HD4 / v.lanes);
  const ld = (row: string, d: string) => (vec4Rows(c) ? load4v(row, d) : `ld4(${row}, ${d})`);
  const open = [`for (var kb = 0u; kb < T; kb += ${v.keys}u) {`];
  for (let j = 0; j < v.keys; j++) {
    open.push(`  let kr${j} = base + ${ragged ? `min(kb + ${j}u, T - 1u)` : `(kb + ${j}u)`} * D3 + D;`);
    for (let p = 0; p < parts; p++) {
      const d = `min(lid + ${p * v.lanes}u, HD4 - 1u)`;
      open.push(`  let kp${j}_${p} = ${ld(`kr${j}`, d)}; let vp${j}_${p} = ${ld(`kr${j} + D`, d)};`);
    }
  }
  L.push(...registerFlash(c, {
    load: ld,
    queries: v.queries, keys: v.keys, open, close: ['}'], maybePastT: ragged,
    kvec: (j, d, part) => `subgroupBroadcast(${part === 1 ? 'k' : 'v'}p${j}_${Math.floor(d / v.lanes)}, ${d % v.lanes}u)`,
  }, '  '));
  L.push(...storeOutputs(c, v.queries, (r) => `qt + ${r * v.lanes}u`));
  L.push(`}`);
  return L;
}

function emitWorkgroupVariant(c: AttentionConfig, v: Extract<AttentionVariant, { kind: 'workgroup' }>): string[] {
  const HD4 = Math.ceil(c.headDim / 4);
  const L: string[] = [];
  L.push(`const KT = ${v.kTile}u;`);
  L.push(`var<workgroup> Ks: array<vec4<f32>, ${v.kTile * HD4}>;`);
  L.push(`var<workgroup> Vs: array<vec4<f32>, ${v.kTile * HD4}>;`);
  L.push(...ld4Fn(c.headDim));
  L.push(...registerPrologue(c, v.threads, v.queries));
  const open = [
    `for (var k0 = 0u; k0 < T; k0 += KT) {`,
    `  // Coalesced: consecutive threads fill consecutive vec4s of the K and V tiles (zeros past T).`,
    `  for (var e = lid; e < KT * HD4; e += ${v.threads}u) {`,
    `    let j = e / HD4; let d = e % HD4;`,
    `    var kv = vec4<f32>(0.0); var vv = vec4<f32>(0.0);`,
    `    if (k0 + j < T) { let r = base + (k0 + j) * D3 + D; kv = ld4(r, d); vv = ld4(r + D, d); }`,
    `    Ks[e] = kv; Vs[e] = vv;`,
    `  }`,
    `  workgroupBarrier();`,
    `  for (var jb = 0u; jb < min(KT, T - k0); jb += ${v.keys}u) {`,
    `  let kb = k0 + jb;`,
  ];
  const ragged = c.T % v.keys !== 0;
  L.push(...registerFlash(c, {
    load: (row, d) => `ld4(${row}, ${d})`,
    queries: v.queries, keys: v.keys, open, close: ['  }', '  workgroupBarrier();', '}'], maybePastT: ragged,
    kvec: (j, d, part) => `${part === 1 ? 'Ks' : 'Vs'}[(jb + ${j}u) * HD4 + ${d}u]`,
  }, '  '));
  L.push(...storeOutputs(c, v.queries, (r) => `qt + ${r * v.threads}u`));
  L.push(`}`);
  return L;
}

function emitSimpleVariant(c: AttentionConfig, v: Extract<AttentionVariant, { kind: 'simple' }>): string[] {
  const HD = c.headDim;
  const HD4 = Math.ceil(HD / 4);
  const L: string[] = [];
  L.push(`const QT = ${v.qTile}u;`, `const KT = ${v.kTile}u;`);
  L.push(`var<workgroup> Ks: array<vec4<f32>, ${v.kTile * HD4}>;`);
  L.push(`var<workgroup> Vs: array<vec4<f32>, ${v.kTile * HD4}>;`);
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
  L.push(`@compute @workgroup_size(${v.qTile})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let b = wid.z; let h = wid.y;`);
  L.push(`  let qi = wid.x * QT + lid;`);
  L.push(`  let base = b * T * D3 + h * HD;`);
  L.push(`  let qrow = base + ${queryRow(c, 'qi')} * D3;`);
  L.push(`  var q: array<vec4<f32>, ${HD4}>;`);
  L.push(`  var o: array<vec4<f32>, ${HD4}>;`);
  L.push(`  for (var d = 0u; d < HD4; d++) { q[d] = ld4(qrow + 4u * d, d) * ${f32Lit(c.scale)}; o[d] = vec4<f32>(0.0); }`);
  L.push(`  var m = -3.0e38;`, `  var l = 0.0;`);
  L.push(`  var sc: array<f32, ${v.kTile}>;`);
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
  L.push(`  if (qi >= ${c.queries ? 'NQ' : 'T'}) { return; }`);
  L.push(`  let orow = (b * ${c.queries ? 'NQ' : 'T'} + qi) * D + h * HD;`);
  L.push(`  let inv = 1.0 / l;`);
  L.push(`  for (var d = 0u; d < HD; d++) { out[orow + d] = o[d / 4u][d % 4u] * inv; }`);
  L.push(`}`);
  return L;
}

export function emitAttention(c: AttentionConfig): EmittedKernel {
  const bindings = attentionBindings(c);
  const HD = c.headDim;
  const D = c.heads * HD;
  const v = c.variant;
  const L: string[] = [];
  L.push(`// ditto attention ${v.kind}: B ${c.B}, T ${c.T}, heads ${c.heads}, head dim ${HD}${c.queries ? `, ${c.queries.length} gathered queries` : ''}`);
  let decls = declareBindings(bindings);
  // The same buffer seen as vec4s: one vec4 load where a CPU adapter would do four scalar ones.
  if (vec4Rows(c)) decls = decls.replace(`var<storage, read> qkv: array<${c.qkvDtype}>;`, `var<storage, read> qkv4: array<vec4<${c.qkvDtype}>>;`);
  L.push(enables(bindings.map((b) => b.elemType), v.kind === 'subgroup') + decls);
  L.push(`const T = ${c.T}u;`, `const HD = ${HD}u;`, `const HD4 = ${Math.ceil(HD / 4)}u;`, `const D = ${D}u;`, `const D3 = ${3 * D}u;`);
  if (c.queries) L.push(`const NQ = ${c.queries.length}u;`, `var<private> QIDX: array<u32, ${c.queries.length}> = array<u32, ${c.queries.length}>(${c.queries.map((t) => `${t}u`).join(', ')});`);
  // Scores in log2 units for exp2 (register variants).
  if (v.kind !== 'simple') L.push(`const QSCALE = ${f32Lit(c.scale * Math.LOG2E)};`);
  if (v.kind === 'subgroup') L.push(...emitSubgroupVariant(c, v));
  else if (v.kind === 'workgroup') L.push(...emitWorkgroupVariant(c, v));
  else L.push(...emitSimpleVariant(c, v));
  L.push('');
  const size = v.kind === 'subgroup' ? v.lanes : v.kind === 'workgroup' ? v.threads : v.qTile;
  return {
    family: 'attention',
    key: attentionKey(c),
    wgsl: L.join('\n'),
    entryPoint: 'main',
    workgroupSize: [size, 1, 1],
    bindings,
    dispatch: attentionDispatch(c),
  };
}
