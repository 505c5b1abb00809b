/**
 * `loadPlan`: the schema check a plan passes before anything runs it. A plan of another format or
 * version, or one whose structure is broken (missing fields, a dispatch naming a kernel or buffer
 * that does not exist, a step table of the wrong length), is an E_PLAN error naming the field.
 * compiler/plan/validate.ts then checks every other field, the buffer sizes and the hash.
 */
import { DittoError } from '../../core/errors.ts';
import { PLAN_FORMAT, PLAN_VERSION, type AnyPlan, type ForwardPlan, type Plan } from './types.ts';
import { arr, bad, int, num, obj, str } from './schema.ts';
import { checkForwardPlanDetails, checkSamplingPlanDetails, verifyPlanHash, type PlanLoadOptions } from './validate.ts';

export type { PlanLoadOptions } from './validate.ts';

/** One body's dispatches; `rules`: the dynamic rule count (null: a forward plan, which has no guarded dispatch). */
function checkBody(b: unknown, field: string, buffers: unknown[], kernels: unknown[], rules: number | null): void {
  const o = obj(b, field);
  arr(o.dispatches, `${field}.dispatches`).forEach((d, j) => {
    const f = `${field}.dispatches[${j}]`;
    const dd = obj(d, f);
    const k = int(dd.kernel, `${f}.kernel`, 0, kernels.length - 1);
    const nb = (kernels[k] as { bindings: unknown[] }).bindings.length;
    const binds = arr(dd.bindings, `${f}.bindings`);
    if (binds.length !== nb) bad(`${f}.bindings`, `has ${binds.length} entries but kernel ${k} declares ${nb}`);
    binds.forEach((x, m) => {
      const bo = obj(x, `${f}.bindings[${m}]`);
      int(bo.binding, `${f}.bindings[${m}].binding`, 0, nb - 1);
      int(bo.buffer, `${f}.bindings[${m}].buffer`, 0, buffers.length - 1);
      int(bo.offset, `${f}.bindings[${m}].offset`, 0);
    });
    const wg = arr(dd.workgroups, `${f}.workgroups`);
    if (wg.length !== 3) bad(`${f}.workgroups`, 'must have 3 entries');
    wg.forEach((w, m) => int(w, `${f}.workgroups[${m}]`, 1));
    if (dd.indirect !== undefined) {
      const ind = obj(dd.indirect, `${f}.indirect`);
      const ib = int(ind.buffer, `${f}.indirect.buffer`, 0, buffers.length - 1);
      const buf = buffers[ib] as { kind: unknown; bytes: number };
      if (buf.kind !== 'indirect') bad(`${f}.indirect.buffer`, `must name a buffer of kind 'indirect', buffer ${ib} is ${JSON.stringify(buf.kind)}`);
      const off = int(ind.offset, `${f}.indirect.offset`, 0, Math.max(0, buf.bytes - 12));
      if (off % 4 !== 0) bad(`${f}.indirect.offset`, `must be a multiple of 4, got ${off}`);
      const g = obj(dd.guard, `${f}.guard`);
      if (g.when !== 'compute' && g.when !== 'reuse') bad(`${f}.guard.when`, `must be compute or reuse, got ${JSON.stringify(g.when)}`);
      if (rules === null) bad(`${f}.indirect`, 'a forward plan has no dynamic rules, so no indirect dispatch');
      int(g.rule, `${f}.guard.rule`, 0, rules - 1);
      if (g.branch !== undefined && g.branch !== 'cond' && g.branch !== 'uncond') bad(`${f}.guard.branch`, `must be cond or uncond, got ${JSON.stringify(g.branch)}`);
    }
  });
}

function parse(json: string | unknown): Record<string, unknown> {
  let data: unknown = json;
  if (typeof json === 'string') {
    try {
      data = JSON.parse(json);
    } catch (e) {
      throw new DittoError('E_PLAN', `plan: not valid JSON (${(e as Error).message})`);
    }
  }
  const p = obj(data, '(top level)');
  if (p.format !== PLAN_FORMAT) bad('format', `must be '${PLAN_FORMAT}', got ${JSON.stringify(p.format)} — this is not a ditto plan`);
  if (p.version !== PLAN_VERSION) bad('version', `is ${JSON.stringify(p.version)}, but this ditto reads version ${PLAN_VERSION}; recompile the plan with 'ditto compile'`);
  str(p.hash, 'hash');
  if (p.mode !== undefined && p.mode !== 'sample' && p.mode !== 'forward') bad('mode', `must be 'sample' or 'forward', got ${JSON.stringify(p.mode)}`);
  return p;
}

/** Buffers and kernels (shared by both modes); returns their counts' arrays. */
function checkBuffersAndKernels(p: Record<string, unknown>): { buffers: unknown[]; kernels: unknown[] } {
  const buffers = arr(p.buffers, 'buffers');
  buffers.forEach((b, i) => {
    const o = obj(b, `buffers[${i}]`);
    if (o.id !== i) bad(`buffers[${i}].id`, `must be ${i}, got ${JSON.stringify(o.id)}`);
    str(o.name, `buffers[${i}].name`);
    str(o.kind, `buffers[${i}].kind`);
    int(o.bytes, `buffers[${i}].bytes`, 0);
  });
  const kernels = arr(p.kernels, 'kernels');
  kernels.forEach((k, i) => {
    const o = obj(k, `kernels[${i}]`);
    str(o.family, `kernels[${i}].family`);
    str(o.wgsl, `kernels[${i}].wgsl`);
    str(o.entryPoint, `kernels[${i}].entryPoint`);
    arr(o.bindings, `kernels[${i}].bindings`);
  });
  return { buffers, kernels };
}

/** Parses (when given text) and checks a plan of either mode. */
export function loadAnyPlan(json: string | unknown, opts: PlanLoadOptions = {}): AnyPlan {
  const p = parse(json);
  return p.mode === 'forward' ? loadForwardPlan(p, opts) : loadPlan(p, opts);
}

/**
 * Parses and checks a forward plan (`mode: 'forward'`): inputs and outputs name buffers of kind
 * input / output with their shapes; the body's dispatches name existing kernels and buffers.
 */
export function loadForwardPlan(json: string | unknown, opts: PlanLoadOptions = {}): ForwardPlan {
  const p = parse(json);
  if (p.mode !== 'forward') bad('mode', `is ${JSON.stringify(p.mode ?? 'sample')}: this is a sampling plan — run it with 'ditto run', not as a forward pass`);
  const model = obj(p.model, 'model');
  str(model.name, 'model.name');
  int(model.batch, 'model.batch', 1);
  const { buffers, kernels } = checkBuffersAndKernels(p);
  const io = obj(p.io, 'io');
  for (const [list, kind] of [['inputs', 'input'], ['outputs', 'output']] as const) {
    const items = arr(io[list], `io.${list}`);
    if (list === 'outputs' && items.length === 0) bad('io.outputs', 'must name at least one output');
    items.forEach((t, i) => {
      const f = `io.${list}[${i}]`;
      const o = obj(t, f);
      str(o.name, `${f}.name`);
      const b = int(o.buffer, `${f}.buffer`, 0, buffers.length - 1);
      const buf = buffers[b] as { kind: unknown; bytes: number };
      if (buf.kind !== kind) bad(`${f}.buffer`, `must name a buffer of kind '${kind}', buffer ${b} is ${JSON.stringify(buf.kind)}`);
      if (o.dtype !== 'f32' && o.dtype !== 'i32') bad(`${f}.dtype`, `must be f32 or i32, got ${JSON.stringify(o.dtype)}`);
      const shape = arr(o.shape, `${f}.shape`).map((d, k) => int(d, `${f}.shape[${k}]`, 1));
      if (shape.reduce((a, d) => a * d, 1) * 4 > buf.bytes) bad(`${f}.shape`, `[${shape.join(', ')}] does not fit buffer ${b} (${buf.bytes} bytes)`);
    });
  }
  checkBody(obj(p.body, 'body'), 'body', buffers, kernels, null);
  const cost = obj(p.cost, 'cost');
  int(cost.peakMemoryBytes, 'cost.peakMemoryBytes', 0);
  checkForwardPlanDetails(p);
  verifyPlanHash(p, opts);
  return p as unknown as ForwardPlan;
}

/** Parses (when given text) and checks a sampling plan. */
export function loadPlan(json: string | unknown, opts: PlanLoadOptions = {}): Plan {
  const p = parse(json);
  if (p.mode === 'forward') bad('mode', "is 'forward': this plan runs one forward pass (compileForward), not a sampling loop");
  const model = obj(p.model, 'model');
  str(model.name, 'model.name');
  int(model.modelBatch, 'model.modelBatch', 1);
  const schedule = obj(p.schedule, 'schedule');
  str(schedule.name, 'schedule.name');
  const options = obj(p.options, 'options');
  const S = int(options.steps, 'options.steps', 1);
  if (options.sampler !== 'ddpm' && options.sampler !== 'ddim') bad('options.sampler', `must be ddpm or ddim, got ${JSON.stringify(options.sampler)}`);

  const { buffers, kernels } = checkBuffersAndKernels(p);
  const rules = (p.dynamic as { rules?: unknown[] } | null | undefined)?.rules?.length ?? 0;
  // `dynamic` absent (plans written before dynamic rules compiled) reads as null: a static plan.
  if (p.dynamic !== undefined && p.dynamic !== null) {
    const dyn = obj(p.dynamic, 'dynamic');
    const sb = int(dyn.state, 'dynamic.state', 0, buffers.length - 1);
    const stateBytes = (buffers[sb] as { bytes: number }).bytes;
    const fields = arr(dyn.stateFields, 'dynamic.stateFields');
    arr(dyn.rules, 'dynamic.rules').forEach((r, i) => {
      const f = `dynamic.rules[${i}]`;
      const o = obj(r, f);
      if (o.rule !== i) bad(`${f}.rule`, `must be ${i}, got ${JSON.stringify(o.rule)}`);
      str(o.signal, `${f}.signal`);
      num(o.threshold, `${f}.threshold`);
      int(o.warmup, `${f}.warmup`, 0);
      const so = int(o.stateOffset, `${f}.stateOffset`, 0, Math.max(0, stateBytes - 4 * fields.length));
      int(o.reusedSteps, `${f}.reusedSteps`, so, so + 4 * fields.length - 4);
      if (o.perBranch !== undefined) {
        const pb = obj(o.perBranch, `${f}.perBranch`);
        const uo = int(pb.stateOffset, `${f}.perBranch.stateOffset`, 0, Math.max(0, stateBytes - 4 * fields.length));
        int(pb.reusedSteps, `${f}.perBranch.reusedSteps`, uo, uo + 4 * fields.length - 4);
      }
    });
  }
  checkBody(p.prologue, 'prologue', buffers, kernels, rules);
  const bodies = arr(p.bodies, 'bodies');
  bodies.forEach((b, i) => checkBody(b, `bodies[${i}]`, buffers, kernels, rules));
  const stepBody = arr(p.stepBody, 'stepBody');
  if (stepBody.length !== S) bad('stepBody', `has ${stepBody.length} entries, expected one per step (${S})`);
  stepBody.forEach((b, k) => int(b, `stepBody[${k}]`, 0, bodies.length - 1));
  const sampler = obj(p.sampler, 'sampler');
  const rows = arr(sampler.rows, 'sampler.rows');
  if (rows.length !== S) bad('sampler.rows', `has ${rows.length} rows, expected ${S}`);
  const nf = arr(sampler.fields, 'sampler.fields').length;
  rows.forEach((r, k) => {
    const rr = arr(r, `sampler.rows[${k}]`);
    if (rr.length !== nf) bad(`sampler.rows[${k}]`, `has ${rr.length} values for ${nf} fields`);
    rr.forEach((v, j) => num(v, `sampler.rows[${k}][${j}]`));
  });
  const cost = obj(p.cost, 'cost');
  if (arr(cost.perStep, 'cost.perStep').length !== S) bad('cost.perStep', `must have ${S} entries`);
  num(cost.predictedSpeedup, 'cost.predictedSpeedup');
  int(cost.peakMemoryBytes, 'cost.peakMemoryBytes', 0);
  const hm = obj(p.heatmap, 'heatmap');
  if (arr(hm.cond, 'heatmap.cond').length !== S) bad('heatmap.cond', `must have ${S} entries`);
  checkSamplingPlanDetails(p);
  verifyPlanHash(p, opts);
  return p as unknown as Plan;
}
