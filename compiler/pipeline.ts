/**
 * The middle end: Graph IR + Schedule IR → plan. An ordered list of passes (one file each in
 * compiler/passes/), the verifier after every pass, and `dumpAfter` to print the IR after any of
 * them. The last step (compiler/plan/build.ts) selects kernels, binds buffers and adds the cost
 * model; it is not an IR pass.
 */
import { DittoError } from '../core/errors.ts';
import type { Graph } from './ir/graph.ts';
import { computeEverything, type ScheduleIR } from './ir/schedule.ts';
import { eliminateDeadCode } from './passes/deadCode.ts';
import { dedupBodies } from './passes/dedup.ts';
import { dumpBodies, dumpSteps } from './passes/dump.ts';
import { fuseBody } from './passes/fuse.ts';
import { hoistInvariants } from './passes/hoist.ts';
import type { Body, DynamicSignal, StepSpec, TargetInfo } from './passes/ir.ts';
import { lowerSteps, type Lowered } from './passes/lower.ts';
import { planMemory, type MemoryPlan } from './passes/memory.ts';
import { normaliseOptions, type CompileOptions, type CompileOptionsInput } from './passes/options.ts';
import { specialise } from './passes/specialise.ts';
import { verifyBody, verifyCacheOrder, verifySteps } from './passes/verify.ts';
import { buildPlan } from './plan/build.ts';
import type { Plan } from './plan/types.ts';

/** Everything the passes produce, filled in as they run. */
export interface PipelineState {
  graph: Graph;
  schedule: ScheduleIR;
  opts: CompileOptions;
  targets?: Map<string, TargetInfo>;
  steps?: StepSpec[];
  /** Dynamic rules with their signal nodes (empty for static schedules). */
  dynamic?: DynamicSignal[];
  prologueNodes?: number[];
  lowered?: Lowered;
  prologue?: Body;
  bodies?: Body[];
  stepBody?: number[];
  memory?: MemoryPlan;
}

interface Pass {
  name: string;
  what: string;
  run(s: PipelineState): void;
  dump(s: PipelineState): string;
  verify(s: PipelineState): void;
}

const verifyAllBodies = (name: string) => (s: PipelineState) => {
  const values = s.lowered!.values;
  const max = s.opts.caps.maxStorageBuffersPerShaderStage;
  verifyBody(name, 'prologue', s.prologue!, values, max);
  s.bodies!.forEach((b, i) => verifyBody(name, `body ${i}`, b, values, max));
  verifyCacheOrder(name, s.bodies!, s.stepBody!, values, s.lowered!.io.modelBatch);
};

export const PASSES: readonly Pass[] = [
  {
    name: 'specialise',
    what: 'schedule → per-step, per-branch cache work (what is stored, reused, forecast)',
    run: (s) => {
      const sp = specialise(s.graph, s.schedule, s.opts);
      s.targets = sp.targets;
      s.steps = sp.steps;
      s.dynamic = sp.dynamic;
    },
    dump: (s) => dumpSteps(s.graph, s.steps!, false),
    verify: () => {},
  },
  {
    name: 'dead-code',
    what: 'per-step node states: what only feeds reused nodes does not run',
    run: (s) => {
      s.steps = eliminateDeadCode(s.graph, { targets: s.targets!, steps: s.steps!, dynamic: s.dynamic! });
    },
    dump: (s) => dumpSteps(s.graph, s.steps!, true),
    verify: (s) => verifySteps('dead-code', s.graph, s.steps!),
  },
  {
    name: 'hoist',
    what: 'work depending on neither x nor t runs once per sampling run',
    run: (s) => {
      const h = hoistInvariants(s.graph, s.steps!);
      s.steps = h.steps;
      s.prologueNodes = h.prologue;
    },
    dump: (s) => `prologue nodes: ${s.prologueNodes!.map((id) => s.graph.nodes[id]!.path ?? `%${id}`).join(', ')}\n` + dumpSteps(s.graph, s.steps!, true),
    verify: (s) => verifySteps('hoist', s.graph, s.steps!),
  },
  {
    name: 'lower',
    what: 'one instruction per running node, cache traffic, sampler; one body per distinct step',
    run: (s) => {
      s.lowered = lowerSteps(s.graph, s.targets!, { steps: s.steps!, prologue: s.prologueNodes! }, s.opts, s.dynamic!);
      s.prologue = s.lowered.prologue;
      s.bodies = s.lowered.bodies;
      s.stepBody = s.lowered.stepBody;
    },
    dump: (s) => dumpBodies(s),
    verify: verifyAllBodies('lower'),
  },
  {
    name: 'fuse',
    what: 'matmul epilogues, LN+modulate, concatenated adaLN projections, elementwise chains',
    run: (s) => {
      const ctx = { graph: s.graph, values: s.lowered!.values, caps: s.opts.caps, f16: s.opts.f16 };
      s.prologue = fuseBody(s.prologue!, ctx);
      s.bodies = s.bodies!.map((b) => fuseBody(b, ctx));
    },
    dump: (s) => dumpBodies(s),
    verify: verifyAllBodies('fuse'),
  },
  {
    name: 'memory',
    what: 'activation buffers by liveness, cache slots as persistent buffers',
    run: (s) => {
      const m = planMemory(s.prologue!, s.bodies!, s.stepBody!, s.lowered!.values);
      s.prologue = m.prologue;
      s.bodies = m.bodies;
      s.memory = m.memory;
    },
    dump: (s) => dumpBodies(s),
    verify: verifyAllBodies('memory'),
  },
  {
    name: 'dedup',
    what: 'identical step bodies stored once (step → body table)',
    run: (s) => {
      if (s.opts.dedup === false) return;
      const d = dedupBodies(s.bodies!, s.stepBody!);
      s.bodies = d.bodies;
      s.stepBody = d.stepBody;
    },
    dump: (s) => dumpBodies(s),
    verify: verifyAllBodies('dedup'),
  },
];

export const PASS_NAMES: readonly string[] = PASSES.map((p) => p.name);

export interface CompileResult {
  plan: Plan;
  /** The IR text after `dumpAfter`, when asked. */
  dump?: string;
  /** Seconds spent in each pass and in plan building. */
  timings: Record<string, number>;
}

/** Runs the passes on `graph` under `schedule` (absent: every node computes at every step). */
export function runPasses(graph: Graph, schedule: ScheduleIR | undefined, options: CompileOptionsInput): { state: PipelineState; dump?: string; timings: Record<string, number> } {
  const opts = normaliseOptions(options);
  if (opts.dumpAfter !== undefined && !PASS_NAMES.includes(opts.dumpAfter)) {
    throw new DittoError('E_USAGE', `--dump-after: no pass named '${opts.dumpAfter}'; passes are ${PASS_NAMES.join(', ')}`);
  }
  const state: PipelineState = { graph, schedule: schedule ?? computeEverything(graph.model, opts.steps), opts };
  if (state.schedule.model !== graph.model) {
    throw new DittoError('E_CHECK', `schedule '${state.schedule.name}' is for model ${state.schedule.model}, not ${graph.model}`);
  }
  let dump: string | undefined;
  const timings: Record<string, number> = {};
  for (const p of PASSES) {
    const t0 = performance.now();
    p.run(state);
    p.verify(state);
    timings[p.name] = (performance.now() - t0) / 1000;
    if (p.name === opts.dumpAfter) dump = `;; IR after pass '${p.name}' (${p.what})\n${p.dump(state)}`;
  }
  return { state, ...(dump !== undefined ? { dump } : {}), timings };
}

export function compile(graph: Graph, schedule: ScheduleIR | undefined, options: CompileOptionsInput): CompileResult {
  const { state, dump, timings } = runPasses(graph, schedule, options);
  const t0 = performance.now();
  // The all-compute plan is the yardstick of the predicted speed-up.
  const baseline = schedule && hasWork(schedule) ? runPasses(graph, undefined, { ...options, dumpAfter: undefined }).state : state;
  const plan = buildPlan(state, baseline);
  timings['plan'] = (performance.now() - t0) / 1000;
  return { plan, ...(dump !== undefined ? { dump } : {}), timings };
}

function hasWork(s: ScheduleIR): boolean {
  return s.table.some((row) => Object.keys(row).length > 0);
}
