/**
 * Cache semantics of the reference sampling loop (DESIGN §4, compiler/ir/schedule.ts): what a
 * reused, residual-reused, forecast or dynamically decided target evaluates to, per CFG branch.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildDiTGraph, TINY_DIT } from '../helpers/ditGraph.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { forward } from '../../runtime/reference/forward.ts';
import { sampleReference, type SampleOptions } from '../../runtime/reference/sample.ts';
import { TaylorState, taylorForecastCoefficients } from '../../compiler/ir/rules.ts';
import { DynamicRuleState } from '../../runtime/reference/dynamicRule.ts';
import * as ops from '../../runtime/reference/ops.ts';
import { makeDiffusion } from '../../core/diffusion.ts';
import { ddpmStep } from '../../runtime/sampler/steps.ts';
import { epsFromModelOutput } from '../../runtime/sampler/guidance.ts';
import { noiseForRun } from '../../runtime/sampler/noise.ts';
import { computeEverything, type Action, type BranchActions, type DynamicRule, type ScheduleIR } from '../../compiler/ir/schedule.ts';
import { nodeByPath, type NodeId } from '../../compiler/ir/graph.ts';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';
import { isDittoError } from '../../core/errors.ts';
import { goldenPath } from '../golden/goldenIo.ts';

const weights = loadWeights(goldenPath('dit_tiny.safetensors')).tensors;
const g = buildDiTGraph(TINY_DIT, 4); // 2 samples under CFG
const classes = [2, 9];
const base: SampleOptions = { sampler: 'ddpm', cfgScale: 3, classes, seed: 11 };
const id = (path: string) => nodeByPath(g, path)!.id;
const both = (a: Action): BranchActions => ({ cond: a, uncond: a });
const REUSE: Action = { kind: 'reuse' };
const COMPUTE: Action = { kind: 'compute' };

function schedule(steps: number, at: (k: number) => Record<string, BranchActions | undefined>, dynamic: DynamicRule[] = []): ScheduleIR {
  const s = computeEverything('DiT', steps);
  const entry = (k: number) => Object.fromEntries(Object.entries(at(k)).filter((e): e is [string, BranchActions] => e[1] !== undefined));
  return { ...s, name: 'test', table: Array.from({ length: steps }, (_, k) => entry(k)), dynamic };
}

/** Runs and records every node value of every step. */
function run(s: ScheduleIR, opts: Partial<SampleOptions> = {}) {
  const seen: ReadonlyMap<NodeId, Tensor>[] = [];
  const r = sampleReference(g, weights, s, { ...base, ...opts, observe: ({ values }) => seen.push(new Map(values)) });
  return { ...r, seen };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isDittoError(e) ? e.code : `not a DittoError: ${String(e)}`;
  }
  return undefined;
}

const half = (t: Tensor, which: 0 | 1) => {
  const n = t.data.length / 2;
  return Array.from(t.data.subarray(which * n, (which + 1) * n));
};

describe('no cache', () => {
  it('an all-compute schedule naming every target is bit-identical to no schedule and to a hand-written loop', () => {
    const steps = 4;
    const none = sampleReference(g, weights, computeEverything('DiT', steps), base);
    const all: Record<string, BranchActions> = {};
    for (let i = 0; i < TINY_DIT.depth; i++) {
      all[`blocks[${i}]`] = both(COMPUTE);
      all[`blocks[${i}].attn`] = both(COMPUTE);
      all[`blocks[${i}].mlp`] = both(COMPUTE);
    }
    const named = sampleReference(g, weights, schedule(steps, () => all), base);
    expect(named.latents.data).toEqual(none.latents.data);

    // The same loop written out with forward() and the sampler pieces.
    const d = makeDiffusion(steps);
    const noise = noiseForRun(base.seed, 2, [4, 8, 8], steps);
    let x = noise.initial.data as Float32Array;
    const y = intTensor([4], [...classes, 10, 10]);
    for (let k = 0; k < steps; k++) {
      const i = steps - 1 - k;
      const xin = new Float32Array(2 * x.length);
      xin.set(x);
      xin.set(x, x.length);
      const out = forward(g, weights, { x: tensor([4, 4, 8, 8], xin), t: tensor([4], new Array(4).fill(d.timesteps[i])), y }).out!;
      const { eps, v } = epsFromModelOutput(out, { channels: 4, cfgScale: 3 });
      x = ddpmStep(d, i, x, eps, v, noise.steps[k]!.data as Float32Array);
    }
    expect(none.latents.data).toEqual(x);
  });

  it('the default noise is noiseForRun(seed); DDIM ignores the per-step noise', () => {
    const s = computeEverything('DiT', 2);
    const a = sampleReference(g, weights, s, base);
    const b = sampleReference(g, weights, s, { ...base, noise: noiseForRun(base.seed, 2, [4, 8, 8], 2) });
    expect(a.latents.data).toEqual(b.latents.data);
    const n = noiseForRun(base.seed, 2, [4, 8, 8], 2);
    const ddim = sampleReference(g, weights, s, { ...base, sampler: 'ddim' });
    const other = sampleReference(g, weights, s, { ...base, sampler: 'ddim', noise: { initial: n.initial, steps: n.steps.map((t) => tensor(t.shape)) } });
    expect(ddim.latents.data).toEqual(other.latents.data);
    expect(ddim.latents.data).not.toEqual(a.latents.data);
  });
});

describe('reuse', () => {
  it('a reused node is the stored value, re-gated with the current gate; what only fed it is dead', () => {
    const r = run(schedule(3, (k) => (k === 1 ? { 'blocks[0].attn': both(REUSE) } : {})));
    const [s0, s1] = r.seen as [ReadonlyMap<NodeId, Tensor>, ReadonlyMap<NodeId, Tensor>];
    expect(s1.get(id('blocks[0].attn'))!.data).toEqual(s0.get(id('blocks[0].attn'))!.data);
    expect(s1.has(id('blocks[0].qkv'))).toBe(false);
    // h#1 = h + gate_msa(step 1) ⊙ stored attention; the gate is chunk 2 of this step's adaLN output.
    const gate = ops.chunk(s1.get(id('blocks[0].ada'))!, 6, 2);
    expect(gate.data).not.toEqual(ops.chunk(s0.get(id('blocks[0].ada'))!, 6, 2).data);
    const want = ops.binary(s1.get(id('h'))!, ops.binary(gate, s0.get(id('blocks[0].attn'))!, 'mul', 'per_sample'), 'add', 'numpy');
    expect(s1.get(id('blocks[0].h#1'))!.data).toEqual(want.data);
    expect(r.stats.nodesEvaluated[1]).toBeLessThan(r.stats.nodesEvaluated[0]!);
    expect(r.stats.targets['blocks[0].attn']!.cond).toEqual({ compute: 2, reuse: 1, forecast: 0 });
  });

  it('reuse reads the value of the last compute step, not an older one', () => {
    const r = run(schedule(5, (k) => (k === 1 || k === 3 || k === 4 ? { 'blocks[1].mlp': both(REUSE) } : {})));
    const v = (k: number) => r.seen[k]!.get(id('blocks[1].mlp'))!.data;
    expect(v(1)).toEqual(v(0));
    expect(v(3)).toEqual(v(2));
    expect(v(4)).toEqual(v(2));
    expect(v(2)).not.toEqual(v(0));
  });

  it('residual reuse: block output = current input + stored (output − input); the block body is dead', () => {
    const r = run(schedule(3, (k) => (k === 2 ? { 'blocks[1]': both({ kind: 'reuse_residual' }) } : {})));
    const s1 = r.seen[1]!;
    const s2 = r.seen[2]!;
    const inId = g.blocks[1]!.input;
    const outId = g.blocks[1]!.output;
    const stored = ops.binary(s1.get(outId)!, s1.get(inId)!, 'sub', 'numpy');
    expect(s2.get(outId)!.data).toEqual(ops.binary(s2.get(inId)!, stored, 'add', 'numpy').data);
    expect(s2.has(id('blocks[1].ada'))).toBe(false);
    expect(s2.has(id('blocks[1].attn'))).toBe(false);
    expect(s2.has(id('blocks[0].attn'))).toBe(true);
  });

  it('reuse or forecast before any compute is a schedule error (E_CHECK)', () => {
    expect(codeOf(() => run(schedule(2, (k) => (k === 0 ? { 'blocks[0].attn': both(REUSE) } : {}))))).toBe('E_CHECK');
    expect(codeOf(() => run(schedule(2, (k) => (k === 0 ? { 'blocks[0]': { cond: COMPUTE, uncond: { kind: 'reuse_residual' } } } : {}))))).toBe('E_CHECK');
    expect(codeOf(() => run(schedule(2, (k) => (k === 0 ? { 'blocks[0].mlp': both({ kind: 'forecast', order: 1 }) } : {}))))).toBe('E_CHECK');
  });

  it('targets and actions that do not fit the graph are schedule errors (E_CHECK)', () => {
    expect(codeOf(() => run(schedule(2, () => ({ 'blocks[7].attn': both(COMPUTE) }))))).toBe('E_CHECK');
    expect(codeOf(() => run(schedule(2, (k) => (k === 1 ? { 'blocks[0]': both(REUSE) } : {}))))).toBe('E_CHECK');
    expect(codeOf(() => run(schedule(2, (k) => (k === 1 ? { 'blocks[0].attn': both({ kind: 'reuse_residual' }) } : {}))))).toBe('E_CHECK');
    expect(codeOf(() => run(schedule(2, (k) => (k === 1 ? { 'blocks[0].attn': both({ kind: 'dynamic', rule: 3 }) } : {}))))).toBe('E_CHECK');
    const short = { ...computeEverything('DiT', 3), epsScale: [1, 1] };
    expect(codeOf(() => sampleReference(g, weights, short, base))).toBe('E_CHECK');
    expect(codeOf(() => sampleReference(g, weights, computeEverything('DiT', 2), { ...base, classes: [1] }))).toBe('E_INPUT');
    expect(codeOf(() => sampleReference(g, weights, computeEverything('DiT', 2), { ...base, classes: [1, 10] }))).toBe('E_INPUT');
  });
});

describe('CFG branches', () => {
  it('a node computed for cond and reused for uncond mixes the halves', () => {
    const mixed = run(schedule(2, (k) => (k === 1 ? { 'blocks[0].mlp': { cond: COMPUTE, uncond: REUSE } } : {})));
    const plain = run(computeEverything('DiT', 2));
    const v = (r: typeof mixed, k: number) => r.seen[k]!.get(id('blocks[0].mlp'))!;
    expect(half(v(mixed, 1), 0)).toEqual(half(v(plain, 1), 0));
    expect(half(v(mixed, 1), 1)).toEqual(half(v(plain, 0), 1));
    expect(half(v(mixed, 1), 1)).not.toEqual(half(v(plain, 1), 1));
    expect(mixed.stats.targets['blocks[0].mlp']).toEqual({ cond: { compute: 2, reuse: 0, forecast: 0 }, uncond: { compute: 1, reuse: 1, forecast: 0 } });
  });

  it('each branch keeps its own history: uncond reuses its own last compute', () => {
    // cond reuses at 1 (value of 0); uncond reuses at 2 (value of 1, when it last computed).
    const r = run(schedule(3, (k) => (k === 1 ? { 'blocks[0].attn': { cond: REUSE, uncond: COMPUTE } } : k === 2 ? { 'blocks[0].attn': { cond: COMPUTE, uncond: REUSE } } : {})));
    const v = (k: number) => r.seen[k]!.get(id('blocks[0].attn'))!;
    expect(half(v(1), 0)).toEqual(half(v(0), 0));
    expect(half(v(2), 1)).toEqual(half(v(1), 1));
  });

  it('without CFG the whole batch follows the cond actions', () => {
    const g2 = buildDiTGraph(TINY_DIT, 2);
    const s = schedule(2, (k) => (k === 1 ? { 'blocks[0].attn': { cond: REUSE, uncond: COMPUTE } } : {}));
    const r = sampleReference(g2, weights, s, { sampler: 'ddpm', classes, seed: 1 });
    expect(r.stats.targets['blocks[0].attn']!.cond).toEqual({ compute: 1, reuse: 1, forecast: 0 });
    expect(r.stats.targets['blocks[0].attn']!.uncond).toEqual({ compute: 0, reuse: 0, forecast: 0 });
  });
});

describe('Taylor forecast (TaylorSeer: differences over the last interval, Σ d_j·m^j/j!)', () => {
  const taylor = (order: number, points: [number, number[]][]) => {
    const t = new TaylorState(order);
    for (const [step, v] of points) t.refresh(step, Float32Array.from(v));
    return t;
  };

  it('order 1 is exact on a signal linear in the step, whatever the spacing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.float({ min: -4, max: 4, noNaN: true }),
        fc.float({ min: -4, max: 4, noNaN: true }),
        (s0, gap, ahead, a, b) => {
          const f = (s: number) => [a + b * s, 2 * a - b * s];
          const k = s0 + gap + ahead;
          expect(taylor(1, [[s0, f(s0)], [s0 + gap, f(s0 + gap)]]).forecast(k, 1)).toAllClose(Float32Array.from(f(k)), { atol: 1e-4, rtol: 1e-5 });
        },
      ),
    );
  });

  it('evenly spaced order 2 is Σ Δʲf/(j!·Nʲ)·mʲ', () => {
    // s = 0, 2, 4 (N = 2), forecast at 5 (m = 1): f4 + (f4−f2)/2 + (f4 − 2f2 + f0)/(2·4).
    const [f0, f2, f4] = [0.5, -1.25, 3];
    const got = taylor(2, [[0, [f0]], [2, [f2]], [4, [f4]]]).forecast(5, 2)[0]!;
    expect(got).toBeCloseTo(f4 + (f4 - f2) / 2 + (f4 - 2 * f2 + f0) / 8, 5);
    expect(taylorForecastCoefficients(3, 3)).toEqual([1, 3, 4.5, 4.5]);
  });

  it('uneven spacing: each refresh divides by the last interval only (the released TaylorSeer recurrence)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 3 }),
        (gaps, values, ahead, order) => {
          const steps = gaps.reduce<number[]>((acc, g) => [...acc, acc[acc.length - 1]! + g], [0]);
          // The recurrence written out in f64 with explicit old/new difference vectors.
          let d: number[] = [];
          steps.forEach((s, i) => {
            const next = [values[i]!];
            const dt = i === 0 ? 1 : s - steps[i - 1]!;
            for (let j = 1; j <= Math.min(order, i); j++) next.push((next[j - 1]! - d[j - 1]!) / dt);
            d = next;
          });
          const m = ahead;
          const o = Math.min(order, steps.length - 1);
          let want = 0;
          let fact = 1;
          for (let j = 0; j <= o; j++) {
            if (j > 0) fact *= j;
            want += (d[j]! * m ** j) / fact;
          }
          const got = taylor(order, steps.map((s, i) => [s, [values[i]!]])).forecast(steps[steps.length - 1]! + m, order)[0]!;
          expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want)));
        },
      ),
    );
  });

  it('with fewer computes than order + 1 it uses the order the history allows', () => {
    expect(Array.from(taylor(2, [[0, [1]]]).forecast(4, 2))).toEqual([1]);
    expect(Array.from(taylor(2, [[0, [1]], [1, [2]]]).forecast(4, 2))).toEqual([5]);
  });

  it('in the loop: a forecast node follows the history of its computes', () => {
    const r = run(schedule(4, (k) => (k === 3 ? { 'blocks[0].attn': both({ kind: 'forecast', order: 1 }) } : {})));
    const v = (k: number) => r.seen[k]!.get(id('blocks[0].attn'))!.data;
    const want = Float32Array.from(v(2), (x, e) => x + (x - v(1)[e]!));
    expect(v(3)).toAllClose(want, { atol: 1e-6, rtol: 1e-6 });
    expect(r.stats.targets['blocks[0].attn']!.uncond.forecast).toBe(1);
  });
});

describe('dynamic rules', () => {
  const rule = (over: Partial<DynamicRule> = {}): DynamicRule => ({
    signal: 'blocks[0].residual', metric: 'rel_l1', threshold: 0.25, warmup: 1, maxConsecutive: 2, then: 'reuse_residual', ...over,
  });

  it('decides from the accumulated rel-L1 signal, with warmup and a cap on consecutive reuses', () => {
    const st = new DynamicRuleState(rule());
    // Signal magnitudes 1 → 1.1 → 1.2 → 1.3 → 1.4 → 2.8 → 2.9: s ≈ 0.1, 0.091, 0.083, 0.077, 1, 0.036.
    const vals = [1, 1.1, 1.2, 1.3, 1.4, 2.8, 2.9].map((v) => Float32Array.of(v, -v));
    const d = vals.map((v, k) => st.step(k, v, true));
    // k0: no previous → compute. k1: acc .1 → reuse. k2: acc .19 → reuse. k3: 2 consecutive → compute.
    // k4: acc .077 → reuse. k5: acc 1.08 → compute. k6: acc .036 → reuse.
    expect(d).toEqual(['compute', 'reuse', 'reuse', 'compute', 'reuse', 'compute', 'reuse']);
    expect(st.trace[2]!.accumulated).toBeCloseTo(0.1 + 0.1 / 1.1, 6);
    expect(st.reused).toBe(4);
    expect(st.computed).toBe(3);
  });

  it('warmup and threshold: never reuse before warmup, nor once acc reaches the threshold', () => {
    const st = new DynamicRuleState(rule({ warmup: 3, threshold: 0.15, maxConsecutive: 10 }));
    const vals = [1, 1.1, 1.2, 1.3, 1.4, 1.5].map((v) => Float32Array.of(v));
    expect(vals.map((v, k) => st.step(k, v, true))).toEqual(['compute', 'compute', 'compute', 'reuse', 'compute', 'reuse']);
  });

  it('in the loop: targets follow the decision, both branches alike; a signal fed by its own targets is E_CHECK', () => {
    const s = schedule(6, (k) => (k >= 1 ? { 'blocks[1]': both({ kind: 'dynamic', rule: 0 }) } : {}), [rule({ threshold: 10, maxConsecutive: 2 })]);
    const r = run(s);
    const trace = r.stats.dynamic[0]!.trace.map((t) => t.decision);
    expect(trace).toEqual(['compute', 'reuse', 'reuse', 'compute', 'reuse', 'reuse']);
    expect(r.stats.targets['blocks[1]']).toEqual({ cond: { compute: 2, reuse: 4, forecast: 0 }, uncond: { compute: 2, reuse: 4, forecast: 0 } });
    expect(r.stats.dynamic[0]).toMatchObject({ reused: 4, computed: 1 });
    const self = schedule(3, (k) => (k >= 1 ? { 'blocks[0]': both({ kind: 'dynamic', rule: 0 }) } : {}), [rule()]);
    expect(codeOf(() => run(self))).toBe('E_CHECK');
    expect(codeOf(() => run(schedule(2, () => ({}), [rule({ signal: 'nowhere' })])))).toBe('E_CHECK');
  });
});

describe('eps scale', () => {
  it('is applied per step: scaling only the last step changes only the last update', () => {
    const s = computeEverything('DiT', 2);
    const a = sampleReference(g, weights, s, base);
    const b = sampleReference(g, weights, { ...s, epsScale: [1, 1 / 0.965] }, base);
    expect(b.latents.data).not.toEqual(a.latents.data);
  });
});
