/**
 * Kernel family `dynamic_decide`: a dynamic cache rule decided on the GPU (compiler/ir/schedule.ts
 * DynamicRule; the reference is runtime/reference/dynamicRule.ts).
 *
 * One workgroup. Every invocation walks a strided share of the signal, summing |cur − prev| and
 * |prev|; a tree reduction gives the two sums; invocation 0 then rescales the change (TeaCache's
 * polynomial), updates the rule's state (accumulated signal, consecutive and total reuses, counters)
 * and, at a step whose targets follow the rule, writes the indirect-dispatch argument triple of
 * every guarded dispatch of the step: its real workgroup counts on the chosen path, (0, 0, 0) on the
 * other. Finally cur becomes the reference `prev` — at every step, or (against the last compute,
 * DBCache) only at a step that did not reuse. The decision is `dynamicDecision` (compiler/ir/rules.ts).
 * Nothing goes back to the host during sampling; the counters are read once at the end.
 *
 * `dynamic_rate` measures EasyCache's transformation rate after the span at a compute
 * (`transform_rate`); `dynamic_reset` zeroes the state of all rules (the plan's prologue runs it
 * once per run).
 */
import { cacheKey, declareBindings, f32Lit } from './common.ts';
import type { DecideParams } from '../ir/rules.ts';
import type { EmittedKernel, KernelBinding } from './types.ts';

/** f32 fields of one rule's state, in order (the plan's `dynamic.stateFields`). */
export const DYNAMIC_STATE_FIELDS = ['step', 'has_prev', 'acc', 'consecutive', 'reused', 'computed', 'decision', 'signal', 'has_out', 'has_rate', 'rate', 'out_norm'] as const;
export const DYNAMIC_STATE_STRIDE = DYNAMIC_STATE_FIELDS.length;
const F = (name: (typeof DYNAMIC_STATE_FIELDS)[number]) => DYNAMIC_STATE_FIELDS.indexOf(name);

/** State records of a plan's rules: one per rule, and when any rule is `per_branch` a second set
 *  after them (rule r's uncond branch is record `rules + r`), so plans without one keep one set. */
export function dynamicStateRecords(rules: readonly { perBranch?: unknown }[]): number {
  return rules.some((r) => r.perBranch !== undefined && r.perBranch !== false) ? 2 * rules.length : rules.length;
}

/** The state record of a `per_branch` rule's uncond branch (its cond branch is record `rule`). */
export function uncondRecord(rule: number, ruleCount: number): number {
  return ruleCount + rule;
}

/** A guarded dispatch whose indirect arguments the decide kernel writes. */
export interface GuardedDispatch {
  /** Index of its argument triple in the args buffer (u32 offset 3·slot). */
  slot: number;
  workgroups: [number, number, number];
  /** The path it belongs to: it runs when the decision is this. */
  when: 'compute' | 'reuse';
  /** A `per_branch` rule's half-batch work (guardRuns, compiler/ir/rules.ts): `compute`, the
   *  branch's store, runs when that branch computes; `reuse`, its stored residual added to its
   *  half, when that branch reuses while the other computes (the batch runs the compute path). */
  branch?: 'cond' | 'uncond';
}

export interface DynamicDecideConfig {
  /** Which rule (its state starts at rule · DYNAMIC_STATE_STRIDE). */
  rule: number;
  /** Elements of the signal (the whole model batch). */
  elements: number;
  /** The signal is output − input of a block or block range (two bindings) rather than one node. */
  residual: boolean;
  /** `transform_rate` (EasyCache): s = rate · Σ|x − x_prev| / Σ|o_c| from the state's rate fields
   *  (the signal binding is the span's input x); absent: the relative L1 change. */
  metric?: 'transform_rate';
  threshold: number;
  warmup: number;
  /** Consecutive reuses allowed (a huge value for "no limit"). */
  maxConsecutive: number;
  against: 'step' | 'compute';
  /** Rescaling polynomial, highest degree first (empty: none). */
  rescale: number[];
  /** Bound on the accumulated change (−1: none). */
  cap: number;
  /** Reuses allowed in a run (−1: no limit). */
  maxReused: number;
  /** Whether targets follow the rule at this step (otherwise the state is updated and reset). */
  used: boolean;
  guarded: GuardedDispatch[];
  /** `per_branch`: the state record of the uncond half, which decides on its own from the second
   *  half of the signal (the first half, cond, uses record `rule`); absent: one decision. */
  uncondRecord?: number;
  workgroupSize: number;
}

/** Large enough to never limit, small enough to be an f32 literal. */
const UNLIMITED = 1e9;

/** The config of a rule's decide kernel (plain JSON: limits that are absent become −1 / UNLIMITED). */
export function selectDynamicDecide(p: { rule: number; elements: number; residual: boolean; used: boolean; guarded: GuardedDispatch[]; params: DecideParams; uncondRecord?: number }): DynamicDecideConfig {
  const { params, ...rest } = p;
  const limit = (v: number) => (Number.isFinite(v) ? v : -1);
  return {
    ...rest,
    ...(params.metric ? { metric: params.metric } : {}),
    threshold: params.threshold,
    warmup: params.warmup,
    maxConsecutive: Number.isFinite(params.maxConsecutive) ? Math.min(params.maxConsecutive, UNLIMITED) : UNLIMITED,
    against: params.against,
    rescale: [...params.rescale],
    cap: limit(params.cap),
    maxReused: limit(params.maxReused),
    workgroupSize: 256,
  };
}

/** The decision's parameters back from a kernel config (the CPU plan interpreter runs `dynamicDecision` with them). */
export function decideParamsOf(c: DynamicDecideConfig): DecideParams {
  const none = (v: number) => (v < 0 ? Infinity : v);
  return { ...(c.metric ? { metric: c.metric } : {}), threshold: c.threshold, warmup: c.warmup, maxConsecutive: c.maxConsecutive, against: c.against, rescale: [...c.rescale], cap: none(c.cap), maxReused: none(c.maxReused) };
}

/** Horner's rule over f32 literals (the reference evaluates the same polynomial in f64). */
function polynomial(coefficients: readonly number[], x: string): string {
  return coefficients.reduce((acc, c, j) => (j === 0 ? f32Lit(c) : `(${acc}) * ${x} + ${f32Lit(c)}`), '');
}

export function emitDynamicDecide(c: DynamicDecideConfig): EmittedKernel {
  const WG = c.workgroupSize;
  const split = c.uncondRecord !== undefined;
  const bindings: KernelBinding[] = [{ name: 'signal', access: 'read', elemType: 'f32', elements: c.elements }];
  if (c.residual) bindings.push({ name: 'input', access: 'read', elemType: 'f32', elements: c.elements });
  bindings.push({ name: 'prev', access: 'read_write', elemType: 'f32', elements: c.elements });
  bindings.push({ name: 'state', access: 'read_write', elemType: 'f32', elements: (Math.max(c.rule, c.uncondRecord ?? 0) + 1) * DYNAMIC_STATE_STRIDE });
  const maxSlot = c.guarded.reduce((m, g) => Math.max(m, g.slot), -1);
  if (c.used) bindings.push({ name: 'args', access: 'read_write', elemType: 'i32', elements: Math.max(3, 3 * (maxSlot + 1)) });
  const cur = c.residual ? 'signal[i] - input[i]' : 'signal[i]';
  // Per branch: `reuseC`, `reuseU` each half's decision; the batch reuses when both do.
  const runs = (g: GuardedDispatch) => {
    if (!split) return g.when === 'compute' ? '!reuse' : 'reuse';
    if (g.branch === undefined) return g.when === 'compute' ? '!reuse' : 'reuse';
    const [own, other] = g.branch === 'cond' ? ['reuseC', 'reuseU'] : ['reuseU', 'reuseC'];
    return g.when === 'compute' ? `!${own}` : `${own} && !${other}`;
  };
  const args = c.guarded.map((g) => g.workgroups.map((w, a) => `    args[${3 * g.slot + a}u] = select(0, ${w}, ${runs(g)});`).join('\n')).join('\n');
  const keepAlways = c.against === 'step';
  const rate = c.metric === 'transform_rate';
  /** One record's decision and state update: the locals get suffix `x` (none with one decision). */
  const decide = (record: number, x: string, sums: [string, string], keep: string) => {
    const base = record * DYNAMIC_STATE_STRIDE;
    const s = (name: (typeof DYNAMIC_STATE_FIELDS)[number]) => `state[${base + F(name)}u]`;
    const conditions = [
      c.used ? 'true' : 'false',
      `measured${x}`,
      `k >= ${f32Lit(c.warmup)}`,
      `${c.against === 'compute' ? `sig${x}` : `acc${x}`} < ${f32Lit(c.threshold)}`,
      ...(c.cap >= 0 ? [`acc${x} < ${f32Lit(c.cap)}`] : []),
      `consecutive${x} < ${f32Lit(c.maxConsecutive)}`,
      ...(c.maxReused >= 0 ? [`${s('reused')} < ${f32Lit(c.maxReused)}`] : []),
    ];
    // rel_l1: mean|cur − prev| / mean|prev|; transform_rate: rate · Σ|x − x_prev| / Σ|o_c|. 0/0 is no
    // change, x/0 an infinite one.
    const measure = rate
      ? `let n = ${s('rate')} * ${sums[0]}[0];
      let d = ${s('out_norm')};`
      : `let n = ${sums[0]}[0];
      let d = ${sums[1]}[0];`;
    return `    let hasPrev${x} = ${s('has_prev')} > 0.5;
    var acc${x} = ${s('acc')};
    var consecutive${x} = ${s('consecutive')};
    var sig${x} = 0.0;
    let measured${x} = hasPrev${x}${rate ? ` && ${s('has_rate')} > 0.5` : ''};
    if (measured${x}) {
      ${measure}
      sig${x} = select(select(3.0e38, 0.0, n == 0.0), n / d, d > 0.0);${c.rescale.length > 0 ? `
      sig${x} = ${polynomial(c.rescale, `sig${x}`)};` : ''}
      acc${x} += sig${x};
    }
    let reuse${x} = ${conditions.join(' && ')};
    if (reuse${x}) {
      consecutive${x} += 1.0;
      ${s('reused')} += 1.0;
    } else {
      acc${x} = 0.0;
      consecutive${x} = 0.0;${c.used ? `\n      ${s('computed')} += 1.0;` : ''}
    }
    ${s('step')} = k + 1.0;
    ${s('has_prev')} = 1.0;
    ${s('acc')} = acc${x};
    ${s('consecutive')} = consecutive${x};
    ${s('decision')} = select(0.0, 1.0, reuse${x});
    ${s('signal')} = sig${x};
    ${keep} = select(1u, 0u, reuse${x});`;
  };
  const step = `state[${c.rule * DYNAMIC_STATE_STRIDE + F('step')}u]`;
  const sums = split
    ? `  var num = 0.0;
  var den = 0.0;
  var numU = 0.0;
  var denU = 0.0;
  for (var i = li; i < N; i += WG) {
    let cur = ${cur};
    let p = prev[i];
    if (i < HALF) {
      num += abs(cur - p);
      den += abs(p);
    } else {
      numU += abs(cur - p);
      denU += abs(p);
    }
  }
${workgroupSums([['sNum', 'num'], ['sDen', 'den'], ['sNumU', 'numU'], ['sDenU', 'denU']])}`
    : `  var num = 0.0;
  var den = 0.0;
  for (var i = li; i < N; i += WG) {
    let cur = ${cur};
    let p = prev[i];
    num += abs(cur - p);
    den += abs(p);
  }
${workgroupSums([['sNum', 'num'], ['sDen', 'den']])}`;
  const decisions = split
    ? `${decide(c.rule, 'C', ['sNum', 'sDen'], 'sKeep')}
${decide(c.uncondRecord!, 'U', ['sNumU', 'sDenU'], 'sKeepU')}
    let reuse = reuseC && reuseU;`
    : decide(c.rule, '', ['sNum', 'sDen'], 'sKeep');
  const tail = split && !keepAlways
    ? `  for (var i = li; i < N; i += WG) {
    if (select(sKeep, sKeepU, i >= HALF) == 1u) { prev[i] = ${cur}; }
  }`
    : `  let keep = ${keepAlways ? 'true' : 'sKeep == 1u'};
  if (keep) {
    for (var i = li; i < N; i += WG) { prev[i] = ${cur}; }
  }`;
  const wgsl = `// dynamic_decide: rule ${c.rule}, ${rate ? 'transform rate estimate from' : 'rel-L1 of'} ${c.elements} signal values against the ${c.against === 'step' ? 'previous step' : 'last compute'}${c.rescale.length > 0 ? `, rescaled (degree ${c.rescale.length - 1})` : ''}${split ? `, per CFG branch (uncond state record ${c.uncondRecord})` : ''}${c.used ? `, decides ${c.guarded.length} dispatches` : ' (rule not used at this step)'}
${declareBindings(bindings)}

const N: u32 = ${c.elements}u;${split ? `\nconst HALF: u32 = ${c.elements / 2}u;` : ''}
const WG: u32 = ${WG}u;
var<workgroup> sNum: array<f32, ${WG}>;
var<workgroup> sDen: array<f32, ${WG}>;${split ? `\nvar<workgroup> sNumU: array<f32, ${WG}>;\nvar<workgroup> sDenU: array<f32, ${WG}>;` : ''}
var<workgroup> sKeep: u32;${split ? '\nvar<workgroup> sKeepU: u32;' : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) li: u32) {
${sums}
  if (li == 0u) {
    let k = ${step};
${decisions}
${args.replace(/^ {4}/gm, '      ')}
  }
  workgroupBarrier();
  // The reference for the next step: ${keepAlways ? "this step's signal" : `the signal of the last step that did not reuse${split ? ' (per half)' : ''}`}.
${tail}
}
`;
  return { family: 'dynamic_decide', key: cacheKey('dynamic_decide', c), wgsl, entryPoint: 'main', workgroupSize: [WG, 1, 1], bindings, dispatch: [1, 1, 1] };
}

export interface DynamicRateConfig {
  /** Which rule (its state starts at rule · DYNAMIC_STATE_STRIDE). */
  rule: number;
  /** Elements of the span's output and input (the whole model batch). */
  elements: number;
  /** Marks the config as the rate update of `transform_rate` (EasyCache). */
  rateUpdate: true;
  workgroupSize: number;
}

/**
 * `dynamic_rate`: after the span at a compute of a `transform_rate` rule, one workgroup sums
 * |o − o_c|, |x − x_c| and |o| (o, x: the span's output and input; o_c, x_c: the last compute's);
 * invocation 0 sets the rate Σ|o − o_c| / Σ|x − x_c| when a compute came before and the input moved
 * (`transformRate`, compiler/ir/rules.ts), and Σ|o|; then o, x become o_c, x_c.
 */
export function emitDynamicRate(c: DynamicRateConfig): EmittedKernel {
  const WG = c.workgroupSize;
  const bindings: KernelBinding[] = [
    { name: 'output', access: 'read', elemType: 'f32', elements: c.elements },
    { name: 'input', access: 'read', elemType: 'f32', elements: c.elements },
    { name: 'last_out', access: 'read_write', elemType: 'f32', elements: c.elements },
    { name: 'last_in', access: 'read_write', elemType: 'f32', elements: c.elements },
    { name: 'state', access: 'read_write', elemType: 'f32', elements: (c.rule + 1) * DYNAMIC_STATE_STRIDE },
  ];
  const base = c.rule * DYNAMIC_STATE_STRIDE;
  const s = (name: (typeof DYNAMIC_STATE_FIELDS)[number]) => `state[${base + F(name)}u]`;
  const wgsl = `// dynamic_rate: rule ${c.rule}, the transformation rate of a span of ${c.elements} values at a compute
${declareBindings(bindings)}

const N: u32 = ${c.elements}u;
const WG: u32 = ${WG}u;
var<workgroup> sOut: array<f32, ${WG}>;
var<workgroup> sIn: array<f32, ${WG}>;
var<workgroup> sNorm: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) li: u32) {
  var dOut = 0.0;
  var dIn = 0.0;
  var norm = 0.0;
  for (var i = li; i < N; i += WG) {
    let o = output[i];
    let x = input[i];
    dOut += abs(o - last_out[i]);
    dIn += abs(x - last_in[i]);
    norm += abs(o);
  }
${workgroupSums([['sOut', 'dOut'], ['sIn', 'dIn'], ['sNorm', 'norm']])}
  if (li == 0u) {
    let hasOut = ${s('has_out')} > 0.5;
    let moved = sIn[0] > 0.0;
    if (hasOut) {
      ${s('has_rate')} = select(0.0, 1.0, moved);
      ${s('rate')} = select(0.0, sOut[0] / max(sIn[0], 1.0e-38), moved);
    }
    ${s('has_out')} = 1.0;
    ${s('out_norm')} = sNorm[0];
  }
  workgroupBarrier();
  for (var i = li; i < N; i += WG) {
    last_out[i] = output[i];
    last_in[i] = input[i];
  }
}
`;
  return { family: 'dynamic_decide', key: cacheKey('dynamic_rate', c), wgsl, entryPoint: 'main', workgroupSize: [WG, 1, 1], bindings, dispatch: [1, 1, 1] };
}

export interface DynamicResetConfig {
  rules: number;
}

export function emitDynamicReset(c: DynamicResetConfig): EmittedKernel {
  const n = c.rules * DYNAMIC_STATE_STRIDE;
  const bindings: KernelBinding[] = [{ name: 'state', access: 'read_write', elemType: 'f32', elements: n }];
  const wgsl = `// dynamic_reset: the state of ${c.rules} dynamic rule(s) back to zero at the start of a run
${declareBindings(bindings)}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32) {
  for (var i = li; i < ${n}u; i += 64u) { state[i] = 0.0; }
}
`;
  return { family: 'dynamic_decide', key: cacheKey('dynamic_reset', c), wgsl, entryPoint: 'main', workgroupSize: [64, 1, 1], bindings, dispatch: [1, 1, 1] };
}

/**
 * WGSL that stores each invocation's partial sums in workgroup arrays and adds them up in a tree:
 * afterwards `shared[0]` holds the workgroup's total for every [shared, local] pair.
 */
function workgroupSums(pairs: [shared: string, local: string][]): string {
  return [
    ...pairs.map(([shared, local]) => `  ${shared}[li] = ${local};`),
    '  workgroupBarrier();',
    '  for (var h = WG / 2u; h > 0u; h = h / 2u) {',
    '    if (li < h) {',
    ...pairs.map(([shared]) => `      ${shared}[li] += ${shared}[li + h];`),
    '    }',
    '    workgroupBarrier();',
    '  }',
  ].join('\n');
}
