/**
 * Embedding kernels of DiT:
 * - timestep: t [B] → [B, dim], [cos(t·f_j) | sin(t·f_j)], f_j = exp(−ln(maxPeriod)·j/half),
 *   a zero column when dim is odd. The angle is range-reduced to [−π, π] before cos/sin because
 *   WGSL only bounds their error inside that range (t·f reaches 1000 rad);
 * - label lookup: ids i32 [B] → rows of a table [rows, dim] (ids are clamped into the table; the
 *   host validates them);
 * - patch_embed: a matmul with the `patches` A layout (see `selectPatchEmbed`);
 * - pos add: an elementwise kernel (see `posAddProblem`);
 * - unpatchify: [B, T, p·p·C] → [B, C, g·p, g·p], a pure index permutation;
 * - chunk needs no kernel: it is a view (an offset and a row stride) read by the consumer.
 *
 * Each takes element offsets into its buffers (absent when 0): a CFG half that starts off the
 * storage alignment (the unconditional half of t, of a small latent or of its tokens) is bound at
 * the aligned byte below it and reached through the offset.
 */
import { DittoError } from '../../core/errors.ts';
import { assertNonNegInts, assertPositiveInts, cacheKey, checkBindingSizes, declareBindings, f32Lit, fold1d } from './common.ts';
import { contiguousView, ex, type ElementwiseProblem } from './elementwise.ts';
import { selectMatmul, type MatmulConfig } from './matmul.ts';
import type { AdapterCaps, EmittedKernel, KernelBinding, StorageDType } from './types.ts';

/** Element offsets into the bindings: only the nonzero ones, so a config without offsets is unchanged. */
export type BindingOffsets<K extends string> = Partial<Record<K, number>>;

/** The config's `offsets` field: the nonzero offsets, or no field at all when every offset is 0. */
function offsetsOf<K extends string>(family: string, o: BindingOffsets<K> | undefined): { offsets?: BindingOffsets<K> } {
  const kept: BindingOffsets<K> = {};
  for (const [k, v] of Object.entries(o ?? {}) as [K, number][]) {
    assertNonNegInts(family, { [`${k} offset`]: v });
    if (v > 0) kept[k] = v;
  }
  return Object.keys(kept).length > 0 ? { offsets: kept } : {};
}

/** `index` shifted by an element offset; the WGSL of a kernel without offsets is unchanged. */
function shifted(offset: number | undefined, index: string): string {
  return offset ? `${offset}u + ${index}` : index;
}

function threadsFor(caps: AdapterCaps): number {
  return Math.min(caps.isSoftware ? 64 : 256, caps.maxInvocations);
}

/** One-invocation-per-output kernel skeleton shared by the gather-style embeddings. */
function gatherKernel(family: string, key: string, header: string, bindings: KernelBinding[], total: number, threads: number, maxPerDim: number, body: string[]): EmittedKernel {
  const dispatch = fold1d(Math.ceil(total / threads), maxPerDim);
  const wgsl = [
    `// ditto ${header}`,
    declareBindings(bindings),
    `const TOTAL = ${total}u;`,
    `@compute @workgroup_size(${threads})`,
    `fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`,
    `  let idx = (wid.x + wid.y * ${dispatch[0]}u) * ${threads}u + lid;`,
    `  if (idx >= TOTAL) { return; }`,
    ...body.map((l) => '  ' + l),
    `}`,
    '',
  ].join('\n');
  return { family, key, wgsl, entryPoint: 'main', workgroupSize: [threads, 1, 1], bindings, dispatch };
}

// ---------------------------------------------------------------- timestep

export interface TimestepEmbedConfig {
  B: number;
  dim: number;
  maxPeriod: number;
  threads: number;
  maxWorkgroupsPerDimension: number;
  offsets?: BindingOffsets<'t' | 'out'>;
}

export function selectTimestepEmbed(p: { B: number; dim: number; maxPeriod?: number; offsets?: BindingOffsets<'t' | 'out'> }, caps: AdapterCaps): TimestepEmbedConfig {
  assertPositiveInts('timestep_embed', { B: p.B, dim: p.dim });
  const maxPeriod = p.maxPeriod ?? 10000;
  if (!(maxPeriod > 1)) throw new DittoError('E_INTERNAL', `timestep_embed: maxPeriod must be > 1, got ${maxPeriod}`);
  if (p.dim < 2) throw new DittoError('E_INTERNAL', 'timestep_embed: dim must be at least 2');
  const c: TimestepEmbedConfig = { B: p.B, dim: p.dim, maxPeriod, threads: threadsFor(caps), maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension, ...offsetsOf('timestep_embed', p.offsets) };
  checkBindingSizes('timestep_embed', timestepBindings(c), caps);
  return c;
}

function timestepBindings(c: TimestepEmbedConfig): KernelBinding[] {
  return [
    { name: 't', access: 'read', elemType: 'f32', elements: (c.offsets?.t ?? 0) + c.B },
    { name: 'out', access: 'read_write', elemType: 'f32', elements: (c.offsets?.out ?? 0) + c.B * c.dim },
  ];
}

export function emitTimestepEmbed(c: TimestepEmbedConfig): EmittedKernel {
  const half = Math.floor(c.dim / 2);
  const out = shifted(c.offsets?.out, 'idx');
  return gatherKernel('timestep_embed', cacheKey('timestep_embed', c), `timestep_embed: B ${c.B}, dim ${c.dim}, maxPeriod ${c.maxPeriod}`,
    timestepBindings(c), c.B * c.dim, c.threads, c.maxWorkgroupsPerDimension, [
      `let b = idx / ${c.dim}u; let j = idx % ${c.dim}u;`,
      `if (j >= ${2 * half}u) { out[${out}] = 0.0; return; }`,
      `let fj = select(j, j - ${half}u, j >= ${half}u);`,
      `let freq = exp(${f32Lit(-Math.log(c.maxPeriod) / half)} * f32(fj));`,
      `let arg = t[${shifted(c.offsets?.t, 'b')}] * freq;`,
      `// Cody-Waite reduction to [-pi, pi] (2*pi split into a short head and a tail).`,
      `let n = round(arg * 0.15915494309189535);`,
      `let r = (arg - n * 6.28125) - n * 0.0019353071795864769;`,
      `out[${out}] = select(cos(r), sin(r), j >= ${half}u);`,
    ]);
}

// ---------------------------------------------------------------- label lookup

export interface LabelEmbedConfig {
  B: number;
  rows: number;
  dim: number;
  tableDtype: StorageDType;
  threads: number;
  maxWorkgroupsPerDimension: number;
  offsets?: BindingOffsets<'ids' | 'out'>;
}

export function selectLabelEmbed(p: { B: number; rows: number; dim: number; tableDtype?: StorageDType; offsets?: BindingOffsets<'ids' | 'out'> }, caps: AdapterCaps): LabelEmbedConfig {
  assertPositiveInts('label_embed', { B: p.B, rows: p.rows, dim: p.dim });
  const tableDtype = p.tableDtype ?? 'f32';
  if (tableDtype === 'f16' && !caps.hasF16) throw new DittoError('E_GPU', 'label_embed: f16 storage needs shader-f16');
  const c: LabelEmbedConfig = { B: p.B, rows: p.rows, dim: p.dim, tableDtype, threads: threadsFor(caps), maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension, ...offsetsOf('label_embed', p.offsets) };
  checkBindingSizes('label_embed', labelBindings(c), caps);
  return c;
}

function labelBindings(c: LabelEmbedConfig): KernelBinding[] {
  return [
    { name: 'ids', access: 'read', elemType: 'i32', elements: (c.offsets?.ids ?? 0) + c.B },
    { name: 'table', access: 'read', elemType: c.tableDtype, elements: c.rows * c.dim },
    { name: 'out', access: 'read_write', elemType: 'f32', elements: (c.offsets?.out ?? 0) + c.B * c.dim },
  ];
}

export function emitLabelEmbed(c: LabelEmbedConfig): EmittedKernel {
  const bindings = labelBindings(c);
  const k = gatherKernel('label_embed', cacheKey('label_embed', c), `label_embed: B ${c.B}, rows ${c.rows}, dim ${c.dim}`,
    bindings, c.B * c.dim, c.threads, c.maxWorkgroupsPerDimension, [
      `let b = idx / ${c.dim}u; let j = idx % ${c.dim}u;`,
      `let id = u32(clamp(ids[${shifted(c.offsets?.ids, 'b')}], 0, ${c.rows - 1}));`,
      `out[${shifted(c.offsets?.out, 'idx')}] = f32(table[id * ${c.dim}u + j]);`,
    ]);
  if (c.tableDtype === 'f16') k.wgsl = 'enable f16;\n' + k.wgsl;
  return k;
}

// ---------------------------------------------------------------- unpatchify

export interface UnpatchifyConfig {
  B: number;
  grid: number;
  patch: number;
  channels: number;
  threads: number;
  maxWorkgroupsPerDimension: number;
  offsets?: BindingOffsets<'x' | 'out'>;
}

export function selectUnpatchify(p: { B: number; grid: number; patch: number; channels: number; offsets?: BindingOffsets<'x' | 'out'> }, caps: AdapterCaps): UnpatchifyConfig {
  assertPositiveInts('unpatchify', { B: p.B, grid: p.grid, patch: p.patch, channels: p.channels });
  const c: UnpatchifyConfig = { B: p.B, grid: p.grid, patch: p.patch, channels: p.channels, threads: threadsFor(caps), maxWorkgroupsPerDimension: caps.maxWorkgroupsPerDimension, ...offsetsOf('unpatchify', p.offsets) };
  checkBindingSizes('unpatchify', unpatchifyBindings(c), caps);
  return c;
}

function unpatchifyBindings(c: UnpatchifyConfig): KernelBinding[] {
  const n = c.B * c.grid * c.grid * c.patch * c.patch * c.channels;
  return [
    { name: 'x', access: 'read', elemType: 'f32', elements: (c.offsets?.x ?? 0) + n },
    { name: 'out', access: 'read_write', elemType: 'f32', elements: (c.offsets?.out ?? 0) + n },
  ];
}

export function emitUnpatchify(c: UnpatchifyConfig): EmittedKernel {
  const { grid: g, patch: p, channels: C } = c;
  const side = g * p;
  return gatherKernel('unpatchify', cacheKey('unpatchify', c), `unpatchify: B ${c.B}, grid ${g}, patch ${p}, channels ${C}`,
    unpatchifyBindings(c), c.B * C * side * side, c.threads, c.maxWorkgroupsPerDimension, [
      `// out [B, C, g*p, g*p] <- x [B, g*g, p*p*C]: pixel (gi*p+u, gj*p+v) of channel c`,
      `let px = idx % ${side}u; let py = (idx / ${side}u) % ${side}u;`,
      `let ch = (idx / ${side * side}u) % ${C}u; let b = idx / ${side * side * C}u;`,
      `let tok = (py / ${p}u) * ${g}u + px / ${p}u;`,
      `let e = ((py % ${p}u) * ${p}u + px % ${p}u) * ${C}u + ch;`,
      `out[${shifted(c.offsets?.out, 'idx')}] = x[${shifted(c.offsets?.x, `(b * ${g * g}u + tok) * ${p * p * C}u + e`)}];`,
    ]);
}

// ---------------------------------------------------------------- patch_embed and pos add

/**
 * patch_embed (Conv2d, kernel = stride = patch) as a matmul whose A rows are gathered patches:
 * W is the conv weight [dim, C, p, p] read as [dim, C·p·p], plus bias.
 */
export function selectPatchEmbed(
  p: { B: number; channels: number; size: number; patch: number; dim: number; wDtype?: StorageDType; biasDtype?: StorageDType; xOffset?: number; cOffset?: number },
  caps: AdapterCaps,
): MatmulConfig {
  assertPositiveInts('patch_embed', { B: p.B, channels: p.channels, size: p.size, patch: p.patch, dim: p.dim });
  const grid = p.size / p.patch;
  if (!Number.isInteger(grid)) throw new DittoError('E_INTERNAL', `patch_embed: size ${p.size} is not a multiple of patch ${p.patch}`);
  return selectMatmul(
    {
      M: p.B * grid * grid, N: p.dim, K: p.channels * p.patch * p.patch, bias: true, wDtype: p.wDtype, biasDtype: p.biasDtype,
      a: { kind: 'patches', channels: p.channels, height: p.size, width: p.size, patch: p.patch, ...(p.xOffset ? { offset: p.xOffset } : {}) },
      ...(p.cOffset ? { cOffset: p.cOffset } : {}),
    },
    caps,
  );
}

/** h[b, t, d] += pos[t, d] as an elementwise problem (in place on h). */
export function posAddProblem(B: number, T: number, D: number): ElementwiseProblem {
  return {
    label: 'pos_add',
    shape: [B, T, D],
    inputs: [{ name: 'pos', view: { offset: 0, strides: [0, D, 1] } }],
    outputs: [{ name: 'h', view: contiguousView([B, T, D]), expr: ex.add(ex.output(0), ex.input(0)) }],
  };
}
