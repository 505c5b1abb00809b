/**
 * Plan assembly: the pipeline's final IR → the plan JSON. Builds the buffer table (weights, fused
 * weights, inputs, sampler state, noise and params rows, hoisted values, cache buffers, the
 * activation pool), selects and emits one kernel per distinct config, turns each instruction into
 * a dispatch with its bindings and workgroup counts, and adds the cost model and the heatmap.
 */
import { DittoError, invariant } from '../../core/errors.ts';
import { numel } from '../../core/tensor.ts';
import { canonicalJson } from '../kernels/common.ts';
import type { Graph } from '../ir/graph.ts';
import type { Body, Instr, NodeState, ValueInfo } from '../passes/ir.ts';
import type { PipelineState } from '../pipeline.ts';
import { bodyCost, dispatchSeconds, instrBytes, instrFlops } from './cost.ts';
import { selectKernel, UnalignedOperand } from './kernelSelect.ts';
import { bufferOfValue, bufferTable, DITTO_VERSION, graphHash, kernelTable, planNodes, sha256 } from './tables.ts';
import { DYNAMIC_STATE_FIELDS, DYNAMIC_STATE_STRIDE, type GuardedDispatch } from '../kernels/dynamic.ts';
import { PARAM_FIELDS, samplerParamRows } from './sampler.ts';
import { PLAN_FORMAT, PLAN_VERSION, type BufferKind, type Plan, type PlanBody, type PlanDispatch, type StepCost } from './types.ts';

// Kept importable from here for callers that know the hashes as part of plan building.
export { graphHash, sha256 } from './tables.ts';

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function buildPlan(s: PipelineState, baseline: PipelineState): Plan {
  const { graph, opts } = s;
  const lowered = s.lowered!;
  const values = lowered.values;
  const io = lowered.io;
  const memory = s.memory!;
  const S = opts.steps;
  const A = opts.caps.minStorageBufferOffsetAlignment;

  // ---- buffers
  const { buffers, byValue, add, addValues } = bufferTable();
  const used = new Set<string>();
  for (const b of [s.prologue!, ...s.bodies!]) for (const i of b.instrs) for (const o of [...i.ins, ...i.outs]) used.add(o.value);
  used.add('latent');
  const kindOf: Record<string, BufferKind> = { weight: 'weight', fused_weight: 'fused_weight', input: 'input', latent: 'latent', hoisted: 'hoisted', dynamic: 'dynamic', indirect: 'indirect' };
  addValues(values.values(), used, kindOf, /^(w|wcat|in|hoist):/);
  const rowBytes = (v: ValueInfo) => numel(v.shape) * 4;
  const paramsStride = align(rowBytes(values.get('params')!), A);
  byValue.set('params', add({ name: 'params', kind: 'params', bytes: S * paramsStride, dtype: 'f32', shape: [...values.get('params')!.shape], rows: S, rowStride: paramsStride }));
  let noiseStride = 0;
  if (values.has('noise')) {
    noiseStride = align(rowBytes(values.get('noise')!), A);
    byValue.set('noise', add({ name: 'noise', kind: 'noise', bytes: S * noiseStride, dtype: 'f32', shape: [...values.get('noise')!.shape], rows: S, rowStride: noiseStride }));
  }
  memory.caches.forEach((c, j) => {
    const lives = c.slots.map((x) => memory.slotLife.get(x)!);
    const id = add({ name: `cache${j}`, kind: 'cache', bytes: c.bytes, dtype: 'f32', slots: c.slots, lifetime: [Math.min(...lives.map((l) => l[0])), Math.max(...lives.map((l) => l[1]))] });
    for (const slot of c.slots) byValue.set(slot, id);
  });
  const pool = memory.pool.map((bytes, j) => add({ name: `act${j}`, kind: 'activation', bytes, dtype: 'f32' }));

  // ---- kernels and dispatches
  const { kernels, kernelOf } = kernelTable();
  const bufferOf = (body: Body, value: string): number => bufferOfValue(values, byValue, pool, body, value);
  const argsBuffer = byValue.get('dyn:args');
  let argSlots = 0;
  const planBody = (body: Body, bodyIndex?: number): PlanBody => {
    const reads = new Set<string>();
    const writes = new Set<string>();
    const select = (ins: Instr, guarded: GuardedDispatch[]) => {
      try {
        return selectKernel(ins, values, opts.caps, guarded);
      } catch (e) {
        // The unconditional half alone starts at element B·(per-sample size): a family without
        // offsets (inside the blocks) cannot read it where that is off the alignment.
        if (!(e instanceof UnalignedOperand) || ins.branch !== 'uncond' || bodyIndex === undefined) throw e;
        const steps = s.stepBody!.flatMap((b, k) => (b === bodyIndex ? [k] : []));
        const node = graph.nodes[ins.covers[0]!];
        const where = node?.span ? ` (${node.span.file}:${node.span.line}:${node.span.column})` : '';
        throw new DittoError('E_CHECK',
          `schedule '${s.schedule.name}': step ${steps.join(', ')} runs the unconditional CFG half alone, but ${node?.path ?? `the model's ${node?.op.kind}`}${where} ` +
          `cannot run on it: the half starts at byte ${4 * e.elements} of its ${e.operand} operand, not a multiple of the adapter's storage alignment ` +
          `(${opts.caps.minStorageBufferOffsetAlignment} bytes), and the ${e.family} kernel takes no offset. Compute both halves there (the same rule outside \`cond { … }\`), ` +
          `or use a batch or model width whose per-sample activations are a multiple of ${opts.caps.minStorageBufferOffsetAlignment} bytes`, node?.span);
      }
    };
    const dispatch = (ins: Instr, guarded: GuardedDispatch[] = []): PlanDispatch => {
      const sel = select(ins, guarded);
      const k = kernelOf(sel);
      const bindings = sel.kernel.bindings.map((kb, binding) => {
        const bo = sel.binds.get(kb.name);
        if (!bo) throw new DittoError('E_INTERNAL', `${sel.family} kernel binding '${kb.name}' has no operand`);
        const buffer = bufferOf(body, bo.value);
        if (bo.value === 'params') return { binding, buffer, offset: 0, size: paramsStride, perStep: paramsStride };
        if (bo.value === 'noise') return { binding, buffer, offset: bo.byteOffset, size: noiseStride - bo.byteOffset, perStep: noiseStride };
        return { binding, buffer, offset: bo.byteOffset };
      });
      for (const r of ins.cacheReads) reads.add(r);
      for (const w of ins.cacheWrites) writes.add(w);
      const flops = instrFlops(ins);
      return {
        kernel: k, bindings, workgroups: sel.kernel.dispatch, covers: ins.covers, role: ins.role, cacheReads: ins.cacheReads, cacheWrites: ins.cacheWrites,
        ...(ins.branch ? { branch: ins.branch } : {}), ...(ins.note ? { note: ins.note } : {}), flops, bytes: instrBytes(ins, values),
      };
    };
    // Guarded dispatches first (the decide kernel needs their workgroup counts), each with its own
    // argument triple in the shared args buffer (steps run one after another, so bodies share it).
    const dispatches: (PlanDispatch | undefined)[] = body.instrs.map(() => undefined);
    const guardedByRule = new Map<number, GuardedDispatch[]>();
    let slot = 0;
    body.instrs.forEach((ins, j) => {
      if (ins.op.kind === 'dynamic_decide') return;
      const d = dispatch(ins);
      if (ins.guard) {
        invariant(argsBuffer !== undefined, 'a guarded dispatch needs the indirect args buffer');
        const branch = ins.guard.branch ? { branch: ins.guard.branch } : {};
        const g: GuardedDispatch = { slot: slot++, workgroups: d.workgroups, when: ins.guard.when, ...branch };
        guardedByRule.set(ins.guard.rule, [...(guardedByRule.get(ins.guard.rule) ?? []), g]);
        d.indirect = { buffer: argsBuffer, offset: 12 * g.slot };
        d.guard = { rule: ins.guard.rule, when: ins.guard.when, ...branch };
      }
      dispatches[j] = d;
    });
    argSlots = Math.max(argSlots, slot);
    body.instrs.forEach((ins, j) => {
      if (ins.op.kind === 'dynamic_decide') dispatches[j] = dispatch(ins, guardedByRule.get(ins.op.rule) ?? []);
    });
    return { dispatches: dispatches as PlanDispatch[], cacheReads: [...reads], cacheWrites: [...writes] };
  };
  const prologue = planBody(s.prologue!);
  const bodies = s.bodies!.map(planBody);
  if (argsBuffer !== undefined) buffers[argsBuffer]!.bytes = align(Math.max(16, 12 * argSlots), 16);

  // ---- cost
  const costOf = (b: PlanBody): StepCost => {
    let flops = 0, bytes = 0, seconds = 0;
    for (const d of b.dispatches) {
      // A dynamic step is costed on its compute path (the decisions are not known before running);
      // a per_branch rule's compute path is the batch's whenever either branch computes, with each
      // half's residual store (its reuse-half additions are not counted: they replace a store).
      if (d.guard?.when === 'reuse') continue;
      flops += d.flops;
      bytes += d.bytes;
      seconds += dispatchSeconds(d.flops, d.bytes, opts.caps);
    }
    return { flops, bytes, dispatches: b.dispatches.filter((d) => d.guard?.when !== 'reuse').length, seconds };
  };
  const bodyCosts = bodies.map(costOf);
  const perStep = s.stepBody!.map((b) => bodyCosts[b]!);
  const base = baseline.bodies![baseline.stepBody![0]!]!;
  const allCompute = bodyCost(base.instrs, baseline.lowered!.values, opts.caps);
  const totalFlops = perStep.reduce((a, c) => a + c.flops, 0);
  const totalSeconds = perStep.reduce((a, c) => a + c.seconds, 0);
  const memoryByKind = { weight: 0, fused_weight: 0, input: 0, latent: 0, noise: 0, params: 0, hoisted: 0, cache: 0, activation: 0, dynamic: 0, indirect: 0 } as Record<BufferKind, number>;
  for (const b of buffers) memoryByKind[b.kind] += b.bytes;

  const cfg = opts.cfgScale !== undefined;
  const yInput = graph.inputs.find((i) => i.name === 'y');
  const nullClass = nullClassOf(graph);
  const [Cl] = io.latent as [number];
  const guided = !cfg ? [] : Array.from({ length: opts.guide === 'all' ? Cl : Math.min(3, Cl) }, (_, c) => c);

  const body: Omit<Plan, 'hash'> = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    compiler: { ditto: DITTO_VERSION },
    model: { name: graph.model, params: { ...graph.params }, modelBatch: io.modelBatch, graphHash: graphHash(graph) },
    schedule: { name: s.schedule.name, steps: s.schedule.steps, hash: sha256(canonicalJson(s.schedule)) },
    options: { steps: S, sampler: opts.sampler, cfgScale: opts.cfgScale ?? null, batch: opts.batch, f16: opts.f16, guide: opts.guide, caps: opts.caps.name },
    nodes: planNodes(graph),
    io: {
      latent: byValue.get('latent')!,
      ...(yInput && byValue.has('in:y') ? { labels: { buffer: byValue.get('in:y')!, nullClass: cfg ? nullClass : null } } : {}),
      outChannels: io.outChannels,
      learnSigma: io.learnSigma,
    },
    sampler: paramsSection(s, byValue.get('params')!),
    cfg: cfg ? { scale: opts.cfgScale!, condSamples: [0, opts.batch], uncondSamples: [opts.batch, 2 * opts.batch], guidedChannels: guided, nullClass } : null,
    noise: values.has('noise') ? { buffer: byValue.get('noise')!, order: 'initial-then-steps', rowShape: [...values.get('noise')!.shape] } : null,
    dynamic: dynamicSection(s, byValue),
    buffers,
    kernels,
    prologue,
    bodies,
    stepBody: [...s.stepBody!],
    heatmap: heatmap(s),
    cost: {
      perStep,
      prologue: costOf(prologue),
      allCompute,
      flopsRatio: totalFlops / (S * allCompute.flops),
      predictedSpeedup: (S * allCompute.seconds) / totalSeconds,
      peakMemoryBytes: buffers.reduce((a, b) => a + b.bytes, 0),
      memory: memoryByKind,
    },
  };
  return { ...body, hash: sha256(canonicalJson(body)) } as Plan;
}

/** The plan's `dynamic` section: the rules, where their state lives, and the reuse counter. */
/** The params rows: the sampler's fields (plan/sampler.ts), then the per-step numbers of the cache
 *  work (passes/stepConstants.ts), zero where a step uses fewer columns than the row has. */
function paramsSection(s: PipelineState, params: number): Plan['sampler'] {
  const columns = numel(s.lowered!.values.get('params')!.shape) - PARAM_FIELDS.length;
  const numbers = s.lowered!.stepConstants;
  const rows = samplerParamRows(s.opts.steps, s.schedule.epsScale).map((r, k) => [...r, ...Array.from({ length: columns }, (_, j) => numbers[k]![j] ?? 0)]);
  return { kind: s.opts.sampler, fields: [...PARAM_FIELDS, ...Array.from({ length: columns }, (_, j) => `cache_${j}`)], rows, params };
}

function dynamicSection(s: PipelineState, byValue: Map<string, number>): Plan['dynamic'] {
  const rules = s.dynamic ?? [];
  if (rules.length === 0) return null;
  const state = byValue.get('dyn:state');
  invariant(state !== undefined, 'dynamic rules have a state buffer');
  return {
    state,
    stateFields: [...DYNAMIC_STATE_FIELDS],
    rules: rules.map((d) => ({
      rule: d.rule, signal: d.signal, threshold: d.params.threshold, warmup: d.params.warmup, maxConsecutive: Number.isFinite(d.params.maxConsecutive) ? d.params.maxConsecutive : null, then: d.then,
      ...(d.params.metric ? { metric: d.params.metric } : {}),
      ...(d.params.against !== 'step' ? { against: d.params.against } : {}),
      ...(d.params.rescale.length > 0 ? { rescale: [...d.params.rescale] } : {}),
      ...(Number.isFinite(d.params.cap) ? { cap: d.params.cap } : {}),
      ...(Number.isFinite(d.params.maxReused) ? { maxReused: d.params.maxReused } : {}),
      stateOffset: 4 * d.rule * DYNAMIC_STATE_STRIDE,
      reusedSteps: 4 * (d.rule * DYNAMIC_STATE_STRIDE + DYNAMIC_STATE_FIELDS.indexOf('reused')),
      ...(d.perBranch ? { perBranch: { stateOffset: 4 * d.perBranch.uncondRecord * DYNAMIC_STATE_STRIDE, reusedSteps: 4 * (d.perBranch.uncondRecord * DYNAMIC_STATE_STRIDE + DYNAMIC_STATE_FIELDS.indexOf('reused')) } } : {}),
      usedSteps: s.steps!.filter((st) => st.dynamic?.rule === d.rule).length,
    })),
  };
}

/** The label table's last row is the CFG null class (DiT: 1000 classes + null). */
function nullClassOf(g: Graph): number | null {
  const y = g.inputs.find((i) => i.name === 'y');
  if (!y) return null;
  const emb = g.nodes.find((n) => n.inputs.includes(y.node) && n.op.kind === 'embedding');
  return emb && emb.op.kind === 'embedding' ? emb.op.rows - 1 : null;
}

const STATE_CHAR: Record<NodeState, string> = { compute: 'c', reuse: 'r', forecast: 'f', residual: 's', dead: 'd', hoisted: 'h', partial: 'p', bands: 'b' };

/** Rows: the schedule's targets and every named linear/attention node on the latent's path, in graph order. */
function heatmap(s: PipelineState): Plan['heatmap'] {
  const g = s.graph;
  // Nodes downstream of the latent x (so not the conditioning path: t_emb, adaLN projections).
  const variant = new Uint8Array(g.nodes.length);
  for (const n of g.nodes) variant[n.id] = (n.op.kind === 'input' && n.op.name === 'x') || n.inputs.some((i) => variant[i]) ? 1 : 0;
  const rowNodes = new Map<number, string>();
  for (const n of g.nodes) {
    if (n.path && variant[n.id] && (n.op.kind === 'linear' || n.op.kind === 'attention')) rowNodes.set(n.id, n.path);
  }
  for (const t of s.targets!.values()) rowNodes.set(t.node, t.path);
  const rows = [...rowNodes].sort((a, b) => a[0] - b[0]).map(([node, label]) => ({ label, node }));
  // A node whose state differs between a dynamic step's two worlds is decided on the GPU: `y`.
  const code = (st: NodeState[], reuse?: NodeState[]) => rows.map((r) => (reuse && reuse[r.node] !== st[r.node] ? 'y' : STATE_CHAR[st[r.node]!])).join('');
  const cond = s.steps!.map((st) => code(st.states!.cond, st.dynamic?.reuse.states?.cond));
  const uncond = s.steps!.map((st, k) => {
    const u = code(st.states!.uncond, st.dynamic?.reuse.states?.uncond);
    return u === cond[k] ? null : u;
  });
  return { rows, cond, uncond };
}
