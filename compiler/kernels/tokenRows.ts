/**
 * token_rows family: the gather and scatter of a partial compute (`compute tokens(…)`,
 * docs/cache-rules.md). Over `samples` samples of T token rows of width D, with the chosen rows
 * `indices` (ascending, baked in as a WGSL constant array: a selection needs no data, so it is
 * part of the plan):
 *   gather:  dst[s, j, :] = src[s, indices[j], :]   (the chosen rows, packed)
 *   scatter: dst[s, indices[j], :] = src[s, j, :]   (the packed rows back into the cache slot)
 * One invocation per packed element. Both sides are strided views (an offset, a sample stride and
 * a row stride; elements contiguous), so a CFG half or a column slice binds without a copy.
 */
import { DittoError } from '../../core/errors.ts';
import { assertNonNegInts, assertPositiveInts, cacheKey, ceilDiv, checkBindingSizes, declareBindings, enables, fold1d } from './common.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

/** A [samples, rows, D] view into a binding: element offset, sample stride, row stride. */
export interface RowsView {
  offset: number;
  sampleStride: number;
  rowStride: number;
}

export interface TokenRowsProblem {
  mode: 'gather' | 'scatter';
  samples: number;
  /** T: token rows of the full side. */
  tokens: number;
  dim: number;
  /** The chosen rows, ascending, each < tokens. */
  indices: readonly number[];
  /** The full side ([samples, T, D]): the source of a gather, the destination of a scatter. */
  full: RowsView;
  /** The packed side ([samples, indices.length, D]). */
  packed: RowsView;
  srcDtype?: StorageDType;
}

export interface TokenRowsConfig {
  mode: 'gather' | 'scatter';
  samples: number;
  tokens: number;
  dim: number;
  indices: number[];
  full: RowsView;
  packed: RowsView;
  srcDtype: StorageDType;
  workgroup: number;
  maxWorkgroupsPerDimension: number;
}

export function selectTokenRows(p: TokenRowsProblem, caps: AdapterCaps): TokenRowsConfig {
  assertPositiveInts('token_rows', { samples: p.samples, tokens: p.tokens, dim: p.dim, count: p.indices.length });
  assertNonNegInts('token_rows', { ...p.full, ...Object.fromEntries(Object.entries(p.packed).map(([k, v]) => [`packed ${k}`, v])) });
  p.indices.forEach((t, j) => {
    if (!Number.isInteger(t) || t < 0 || t >= p.tokens || (j > 0 && t <= p.indices[j - 1]!)) {
      throw new DittoError('E_INTERNAL', `token_rows: the chosen rows must be ascending whole numbers below ${p.tokens}, got ${t} at ${j}`);
    }
  });
  const c: TokenRowsConfig = {
    mode: p.mode, samples: p.samples, tokens: p.tokens, dim: p.dim, indices: [...p.indices], full: { ...p.full }, packed: { ...p.packed },
    srcDtype: p.srcDtype ?? 'f32', workgroup: Math.min(256, caps.maxInvocations), maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension,
  };
  checkBindingSizes('token_rows', tokenRowsBindings(c), caps);
  fold1d(ceilDiv(packedElements(c), c.workgroup), c.maxWorkgroupsPerDimension);
  return c;
}

export function tokenRowsKey(c: TokenRowsConfig): string {
  return cacheKey('token_rows', c);
}

export function packedElements(c: { samples: number; dim: number; indices: readonly number[] }): number {
  return c.samples * c.indices.length * c.dim;
}

function extent(v: RowsView, samples: number, rows: number, dim: number): number {
  return v.offset + (samples - 1) * v.sampleStride + (rows - 1) * v.rowStride + dim;
}

/** Bindings: `src` then `dst` (gather: full → packed; scatter: packed → full). */
export function tokenRowsBindings(c: TokenRowsConfig): KernelBinding[] {
  const full = extent(c.full, c.samples, c.tokens, c.dim);
  const packed = extent(c.packed, c.samples, c.indices.length, c.dim);
  const [src, dst] = c.mode === 'gather' ? [full, packed] : [packed, full];
  return [
    { name: 'src', access: 'read', elemType: c.srcDtype, elements: src },
    { name: 'dst', access: 'read_write', elemType: 'f32', elements: dst },
  ];
}

export function emitTokenRows(c: TokenRowsConfig): EmittedKernel {
  const bindings = tokenRowsBindings(c);
  const total = packedElements(c);
  const dispatch = fold1d(ceilDiv(total, c.workgroup), c.maxWorkgroupsPerDimension);
  const n = c.indices.length;
  const at = (v: RowsView, row: string) => `${v.offset}u + s * ${v.sampleStride}u + ${row} * ${v.rowStride}u + e`;
  const [src, dst] = c.mode === 'gather' ? [at(c.full, 'tok'), at(c.packed, 'j')] : [at(c.packed, 'j'), at(c.full, 'tok')];
  const L: string[] = [];
  L.push(`// ditto token_rows ${c.mode}: ${n} of ${c.tokens} token rows × ${c.dim}, ${c.samples} sample(s)`);
  L.push(enables(bindings.map((b) => b.elemType)) + declareBindings(bindings));
  L.push(`var<private> IDX: array<u32, ${n}> = array<u32, ${n}>(${c.indices.map((t) => `${t}u`).join(', ')});`);
  L.push(`@compute @workgroup_size(${c.workgroup})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let i = (wid.x + wid.y * ${dispatch[0]}u) * ${c.workgroup}u + lid;`);
  L.push(`  if (i >= ${total}u) { return; }`);
  L.push(`  let e = i % ${c.dim}u; let j = (i / ${c.dim}u) % ${n}u; let s = i / ${n * c.dim}u;`);
  L.push(`  let tok = IDX[j];`);
  L.push(`  dst[${dst}] = f32(src[${src}]);`);
  L.push(`}`, '');
  return { family: 'token_rows', key: tokenRowsKey(c), wgsl: L.join('\n'), entryPoint: 'main', workgroupSize: [c.workgroup, 1, 1], bindings, dispatch };
}
