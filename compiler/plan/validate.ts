/**
 * The checks loadPlan runs after the structure (compiler/plan/load.ts): every field that `run`,
 * `forward` and `explain` read has its type and range, every buffer is large enough for what the
 * options and the bindings say goes into it, no dispatch binds one buffer twice with overlapping
 * ranges where one binding writes (WebGPU rejects that, or worse, the write races the read), and
 * the plan's hash matches its contents. A plan that passes runs without a GPU validation error
 * from its own numbers; one that does not is an E_PLAN error naming the field.
 */
import { planHash } from './retune.ts';
import { DittoError } from '../../core/errors.ts';
import { arr, bad, bool, int, ints, num, obj, oneOf, opt, str, strings } from './schema.ts';

const BUFFER_KINDS = ['weight', 'fused_weight', 'input', 'latent', 'noise', 'params', 'hoisted', 'cache', 'activation', 'dynamic', 'indirect', 'output'] as const;
const DTYPES = ['f32', 'f16', 'i32'] as const;
const ELEM_BYTES: Record<string, number> = { f32: 4, f16: 2, i32: 4 };
const ROLES = ['model', 'reuse', 'residual', 'forecast', 'cache_write', 'sampler', 'hoisted'] as const;
/** Largest buffer a plan may declare; the runtime also checks the adapter's own limit before allocating. */
export const MAX_PLAN_BUFFER_BYTES = 2 ** 40;
/** Images per run a plan may declare (compile allows 4096). */
const MAX_BATCH = 65_536;

interface Buf {
  kind: string;
  bytes: number;
  dtype: string;
  shape?: number[];
  rowStride?: number;
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

/** Bytes the runtime allocates for a buffer (runtime/run/resources.ts rounds up to 16, at least 16). */
function allocated(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

export function checkBufferDetails(buffers: unknown[]): Buf[] {
  return buffers.map((b, i) => {
    const f = `buffers[${i}]`;
    const o = obj(b, f);
    oneOf(o.kind, `${f}.kind`, BUFFER_KINDS);
    const dtype = oneOf(o.dtype, `${f}.dtype`, DTYPES);
    const bytes = int(o.bytes, `${f}.bytes`, 0, MAX_PLAN_BUFFER_BYTES);
    const elem = ELEM_BYTES[dtype]!;
    const shape = opt(o.shape, (v) => ints(v, `${f}.shape`, 1));
    if (shape && numel(shape) * elem > bytes) bad(`${f}.shape`, `[${shape.join(', ')}] needs ${numel(shape) * elem} bytes, the buffer has ${bytes}`);
    opt(o.sources, (v) => arr(v, `${f}.sources`).forEach((s, j) => {
      const so = obj(s, `${f}.sources[${j}]`);
      str(so.name, `${f}.sources[${j}].name`);
      const sh = ints(so.shape, `${f}.sources[${j}].shape`, 1);
      const off = int(so.offset, `${f}.sources[${j}].offset`, 0);
      if ((off + numel(sh)) * elem > bytes) bad(`${f}.sources[${j}]`, `ends at element ${off + numel(sh)}, past the buffer's ${bytes / elem}`);
    }));
    opt(o.derived, (v) => {
      const d = obj(v, `${f}.derived`);
      const kind = oneOf(d.kind, `${f}.derived.kind`, ['pos_embed_2d', 'slice'] as const);
      if (kind === 'pos_embed_2d') {
        const grid = int(d.grid, `${f}.derived.grid`, 1, 65_536);
        const dim = int(d.dim, `${f}.derived.dim`, 1, 65_536);
        if (grid * grid * dim * elem > bytes) bad(`${f}.derived`, `a ${grid}×${grid} grid of dimension ${dim} does not fit the buffer's ${bytes} bytes`);
      } else {
        str(d.of, `${f}.derived.of`);
        arr(d.ranges, `${f}.derived.ranges`).forEach((r, j) => {
          const rr = ints(r, `${f}.derived.ranges[${j}]`);
          if (rr.length !== 2 || rr[0]! > rr[1]!) bad(`${f}.derived.ranges[${j}]`, 'must be [from, to] with from ≤ to');
        });
      }
    });
    opt(o.rows, (v) => int(v, `${f}.rows`, 0));
    const rowStride = opt(o.rowStride, (v) => int(v, `${f}.rowStride`, 0, bytes));
    if (rowStride !== undefined && rowStride % 4 !== 0) bad(`${f}.rowStride`, `must be a multiple of 4, got ${rowStride}`);
    opt(o.slots, (v) => strings(v, `${f}.slots`));
    opt(o.lifetime, (v) => {
      if (ints(v, `${f}.lifetime`).length !== 2) bad(`${f}.lifetime`, 'must be [first, last]');
    });
    return o as unknown as Buf;
  });
}

export function checkKernelDetails(kernels: unknown[]): void {
  kernels.forEach((k, i) => {
    const f = `kernels[${i}]`;
    const o = obj(k, f);
    int(o.id, `${f}.id`, i, i);
    str(o.key, `${f}.key`);
    const wg = ints(o.workgroupSize, `${f}.workgroupSize`, 1, 1024);
    if (wg.length !== 3) bad(`${f}.workgroupSize`, 'must have 3 entries');
    arr(o.bindings, `${f}.bindings`).forEach((b, j) => {
      const bo = obj(b, `${f}.bindings[${j}]`);
      str(bo.name, `${f}.bindings[${j}].name`);
      oneOf(bo.access, `${f}.bindings[${j}].access`, ['read', 'read_write', 'uniform'] as const);
      oneOf(bo.elemType, `${f}.bindings[${j}].elemType`, DTYPES);
    });
  });
}

export function checkStepCost(v: unknown, field: string): void {
  const o = obj(v, field);
  num(o.flops, `${field}.flops`);
  num(o.bytes, `${field}.bytes`);
  int(o.dispatches, `${field}.dispatches`, 0);
  num(o.seconds, `${field}.seconds`);
}

/**
 * A body's dispatches beyond their indices: the fields explain reads, each binding number once,
 * every bound range inside its buffer at every step it runs (`steps`), and no writable binding
 * overlapping another binding of the same buffer.
 */
export function checkBodyDetails(b: unknown, field: string, buffers: Buf[], kernels: unknown[], nodes: number, steps: number): void {
  const o = obj(b, field);
  strings(o.cacheReads, `${field}.cacheReads`);
  strings(o.cacheWrites, `${field}.cacheWrites`);
  arr(o.dispatches, `${field}.dispatches`).forEach((d, j) => {
    const f = `${field}.dispatches[${j}]`;
    const dd = obj(d, f);
    ints(dd.covers, `${f}.covers`, 0, Math.max(0, nodes - 1));
    oneOf(dd.role, `${f}.role`, ROLES);
    strings(dd.cacheReads, `${f}.cacheReads`);
    strings(dd.cacheWrites, `${f}.cacheWrites`);
    opt(dd.branch, (v) => oneOf(v, `${f}.branch`, ['cond', 'uncond'] as const));
    opt(dd.note, (v) => str(v, `${f}.note`));
    num(dd.flops, `${f}.flops`);
    num(dd.bytes, `${f}.bytes`);
    const kernelBindings = (kernels[dd.kernel as number] as { bindings: { access: string; elemType: string }[] }).bindings;
    const access = kernelBindings.map((x) => x.access);
    const seen = new Set<number>();
    const ranges: { buffer: number; from: number; to: number; writes: boolean; m: number }[] = [];
    (dd.bindings as Record<string, unknown>[]).forEach((x, m) => {
      const bf = `${f}.bindings[${m}]`;
      const binding = x.binding as number;
      if (seen.has(binding)) bad(`${bf}.binding`, `binds slot ${binding} a second time`);
      seen.add(binding);
      const buf = buffers[x.buffer as number]!;
      // A kernel reading f16 storage as f32 (or the reverse) sees every value garbled, with no error.
      const elemType = kernelBindings[binding]?.elemType;
      if (elemType !== undefined && (elemType === 'f16') !== (buf.dtype === 'f16')) {
        bad(`${bf}.buffer`, `binds buffer ${x.buffer} (${buf.dtype}) to kernel ${dd.kernel as number}'s ${elemType} binding ${binding}`);
      }
      const have = allocated(buf.bytes);
      const offset = x.offset as number;
      if (offset % 4 !== 0) bad(`${bf}.offset`, `must be a multiple of 4, got ${offset}`);
      const size = opt(x.size, (v) => int(v, `${bf}.size`, 4));
      const perStep = opt(x.perStep, (v) => int(v, `${bf}.perStep`, 0)) ?? 0;
      const last = offset + perStep * Math.max(0, steps - 1);
      const end = last + (size ?? have - last);
      if (last >= have || end > have) bad(bf, `reaches byte ${Math.max(end, last + 4)} of buffer ${x.buffer} (${buf.bytes} bytes)${perStep ? ` at step ${steps - 1}` : ''}`);
      ranges.push({ buffer: x.buffer as number, from: offset, to: end, writes: access[binding] === 'read_write', m });
    });
    for (let a = 0; a < ranges.length; a++) {
      for (let c = a + 1; c < ranges.length; c++) {
        const x = ranges[a]!;
        const y = ranges[c]!;
        if (x.buffer === y.buffer && (x.writes || y.writes) && x.from < y.to && y.from < x.to) {
          bad(`${f}.bindings`, `bind buffer ${x.buffer} twice with overlapping ranges (bindings[${x.m}] and bindings[${y.m}]) and one of them writes`);
        }
      }
    }
  });
}

function checkNodes(v: unknown): number {
  const nodes = arr(v, 'nodes');
  nodes.forEach((n, i) => {
    const o = obj(n, `nodes[${i}]`);
    int(o.id, `nodes[${i}].id`);
    str(o.op, `nodes[${i}].op`);
    opt(o.path, (x) => str(x, `nodes[${i}].path`));
  });
  return nodes.length;
}

function checkModelInfo(p: Record<string, unknown>): void {
  str(obj(p.compiler, 'compiler').ditto, 'compiler.ditto');
  const model = obj(p.model, 'model');
  for (const [k, v] of Object.entries(obj(model.params, 'model.params'))) num(v, `model.params.${k}`);
  str(model.graphHash, 'model.graphHash');
}

/** Everything of a sampling plan that load.ts's structural pass does not cover. */
export function checkSamplingPlanDetails(p: Record<string, unknown>): void {
  checkModelInfo(p);
  const options = obj(p.options, 'options');
  const S = options.steps as number;
  const batch = int(options.batch, 'options.batch', 1, MAX_BATCH);
  const cfgScale = options.cfgScale === null ? null : num(options.cfgScale, 'options.cfgScale');
  bool(options.f16, 'options.f16');
  oneOf(options.guide, 'options.guide', ['first3', 'all'] as const);
  str(options.caps, 'options.caps');
  const schedule = obj(p.schedule, 'schedule');
  int(schedule.steps, 'schedule.steps', S, S);
  str(schedule.hash, 'schedule.hash');
  const nodes = checkNodes(p.nodes);
  const buffers = checkBufferDetails(p.buffers as unknown[]);
  const kernels = p.kernels as unknown[];
  checkKernelDetails(kernels);
  const index = (v: unknown, field: string, kind: string): Buf => {
    const i = int(v, field, 0, buffers.length - 1);
    if (buffers[i]!.kind !== kind) bad(field, `must name a buffer of kind '${kind}', buffer ${i} is '${buffers[i]!.kind}'`);
    return buffers[i]!;
  };

  // io: the latent holds exactly the images of one run — its shape is what `run` uploads and reads back.
  const io = obj(p.io, 'io');
  const latent = index(io.latent, 'io.latent', 'latent');
  if (latent.dtype !== 'f32') bad('io.latent', `must name an f32 buffer, buffer ${io.latent} is ${latent.dtype}`);
  if (!latent.shape || latent.shape.length !== 4) bad('io.latent', `must name a buffer with a [B, C, H, W] shape, buffer ${io.latent} has ${JSON.stringify(latent.shape)}`);
  if (latent.shape[0] !== batch) bad('options.batch', `is ${batch}, but the latent buffer holds ${latent.shape[0]} image${latent.shape[0] === 1 ? '' : 's'} — recompile with --batch instead of editing the plan`);
  opt(io.labels, (v) => {
    const l = obj(v, 'io.labels');
    const lb = index(l.buffer, 'io.labels.buffer', 'input');
    if (lb.dtype !== 'i32') bad('io.labels.buffer', `must name an i32 buffer, got ${lb.dtype}`);
    const n = lb.shape?.[0] ?? batch;
    if (n < batch || n * 4 > lb.bytes) bad('io.labels.buffer', `holds ${Math.floor(lb.bytes / 4)} labels for ${n} rows; a run writes ${Math.max(n, batch)}`);
    if (l.nullClass !== null) int(l.nullClass, 'io.labels.nullClass', 0);
  });
  int(io.outChannels, 'io.outChannels', 1);
  bool(io.learnSigma, 'io.learnSigma');

  // The sampler's parameter rows: one per step, `rowStride` bytes apart, in the one params buffer.
  const sampler = obj(p.sampler, 'sampler');
  if (sampler.kind !== options.sampler) bad('sampler.kind', `is ${JSON.stringify(sampler.kind)} but options.sampler is ${JSON.stringify(options.sampler)}`);
  const nf = strings(sampler.fields, 'sampler.fields').length;
  int(sampler.params, 'sampler.params', 0, buffers.length - 1);
  const params = buffers.filter((b) => b.kind === 'params');
  if (params.length > 1) bad('buffers', `has ${params.length} buffers of kind 'params'; a plan has one`);
  for (const pb of params) {
    const stride = pb.rowStride;
    if (stride === undefined || stride < 4 * nf) bad('params buffer rowStride', `must be at least ${4 * nf} bytes (${nf} fields), got ${JSON.stringify(stride)}`);
    if ((S - 1) * stride + 4 * nf > pb.bytes || pb.bytes > (S + 1) * stride + 16) bad('params buffer bytes', `${pb.bytes} does not hold ${S} rows of ${stride} bytes`);
  }

  if ((p.cfg === null) !== (cfgScale === null)) bad('cfg', `must be null exactly when options.cfgScale is null (cfgScale ${cfgScale})`);
  if (p.cfg !== null) {
    const c = obj(p.cfg, 'cfg');
    num(c.scale, 'cfg.scale');
    for (const k of ['condSamples', 'uncondSamples'] as const) {
      const r = ints(c[k], `cfg.${k}`);
      if (r.length !== 2 || r[0]! > r[1]!) bad(`cfg.${k}`, 'must be [from, to] with from ≤ to');
    }
    ints(c.guidedChannels, 'cfg.guidedChannels');
    if (c.nullClass !== null) int(c.nullClass, 'cfg.nullClass', 0);
  }

  // The step noise: S − 1 rows of rowShape, `rowStride` bytes apart (run uploads exactly that).
  if (p.noise !== null) {
    const n = obj(p.noise, 'noise');
    const nb = index(n.buffer, 'noise.buffer', 'noise');
    oneOf(n.order, 'noise.order', ['initial-then-steps'] as const);
    const row = numel(ints(n.rowShape, 'noise.rowShape', 1)) * 4;
    const stride = nb.rowStride;
    if (stride === undefined || stride < row) bad('noise buffer rowStride', `must be at least ${row} bytes (noise.rowShape), got ${JSON.stringify(stride)}`);
    if ((S > 1 && (S - 2) * stride + row > nb.bytes) || nb.bytes > (S + 1) * stride + 16) bad('noise buffer bytes', `${nb.bytes} does not hold ${S - 1} rows of ${stride} bytes`);
  }

  if (p.dynamic !== undefined && p.dynamic !== null) {
    arr(obj(p.dynamic, 'dynamic').rules, 'dynamic.rules').forEach((r, i) => {
      const o = obj(r, `dynamic.rules[${i}]`);
      if (o.maxConsecutive !== null) int(o.maxConsecutive, `dynamic.rules[${i}].maxConsecutive`, 0);
      oneOf(o.then, `dynamic.rules[${i}].then`, ['reuse', 'reuse_residual'] as const);
      int(o.usedSteps, `dynamic.rules[${i}].usedSteps`, 0);
    });
  }

  checkBodyDetails(p.prologue, 'prologue', buffers, kernels, nodes, 1);
  // A body's per-step bindings move with the step index: check them at the last step that runs it.
  const runs = new Map<number, number>();
  (p.stepBody as number[]).forEach((b, k) => runs.set(b, k + 1));
  (p.bodies as unknown[]).forEach((b, i) => checkBodyDetails(b, `bodies[${i}]`, buffers, kernels, nodes, runs.get(i) ?? 1));

  // The heatmap explain draws: one code per row per step, the uncond half null or the same width.
  const hm = obj(p.heatmap, 'heatmap');
  const rows = arr(hm.rows, 'heatmap.rows');
  rows.forEach((r, i) => {
    const o = obj(r, `heatmap.rows[${i}]`);
    str(o.label, `heatmap.rows[${i}].label`);
    int(o.node, `heatmap.rows[${i}].node`);
  });
  const cond = arr(hm.cond, 'heatmap.cond');
  const uncond = arr(hm.uncond, 'heatmap.uncond');
  if (uncond.length !== S) bad('heatmap.uncond', `must have ${S} entries`);
  cond.forEach((c, k) => {
    if (str(c, `heatmap.cond[${k}]`).length !== rows.length) bad(`heatmap.cond[${k}]`, `must have one code per heatmap row (${rows.length})`);
    const u = uncond[k];
    if (u !== null && str(u, `heatmap.uncond[${k}]`).length !== rows.length) bad(`heatmap.uncond[${k}]`, `must be null or have one code per heatmap row (${rows.length})`);
  });

  const cost = obj(p.cost, 'cost');
  (cost.perStep as unknown[]).forEach((c, k) => checkStepCost(c, `cost.perStep[${k}]`));
  checkStepCost(cost.prologue, 'cost.prologue');
  checkStepCost(cost.allCompute, 'cost.allCompute');
  num(cost.flopsRatio, 'cost.flopsRatio');
  for (const [k, v] of Object.entries(obj(cost.memory, 'cost.memory'))) num(v, `cost.memory.${k}`);
}

/** Everything of a forward plan that load.ts's structural pass does not cover. */
export function checkForwardPlanDetails(p: Record<string, unknown>): void {
  checkModelInfo(p);
  const options = obj(p.options, 'options');
  bool(options.f16, 'options.f16');
  str(options.caps, 'options.caps');
  const nodes = checkNodes(p.nodes);
  const buffers = checkBufferDetails(p.buffers as unknown[]);
  checkKernelDetails(p.kernels as unknown[]);
  checkBodyDetails(p.body, 'body', buffers, p.kernels as unknown[], nodes, 1);
  const cost = obj(p.cost, 'cost');
  checkStepCost(cost.body, 'cost.body');
  for (const [k, v] of Object.entries(obj(cost.memory, 'cost.memory'))) num(v, `cost.memory.${k}`);
}

export interface PlanLoadOptions {
  /**
   * Accept a plan whose contents no longer match its hash (edited by hand). Every other check still
   * runs; the CLI's `--allow-edited-plan`.
   */
  allowEdited?: boolean;
}

/** Throws E_PLAN when the plan was changed after compile wrote it. */
export function verifyPlanHash(p: Record<string, unknown>, opts: PlanLoadOptions = {}): void {
  if (opts.allowEdited) return;
  const actual = planHash(p);
  if (actual !== p.hash) {
    throw new DittoError('E_PLAN', `plan: its contents do not match its hash (written ${String(p.hash).slice(0, 12)}…, contents ${actual.slice(0, 12)}…): the plan was edited after 'ditto compile' wrote it. Recompile it, or pass --allow-edited-plan to run an edited plan on purpose`);
  }
}
