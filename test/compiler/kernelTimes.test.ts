/**
 * Pricing a plan from a kernel-times table (compiler/plan/kernelTimes.ts), on synthetic tables:
 * the price is a sum over the plan's dispatches (each step body once per step, the prologue once,
 * skipped dynamic paths free), monotone in every time of the table; the roofline table reproduces
 * plan.cost; the calibrated speed-up needs the all-compute step of the same model and options; and
 * a malformed table is refused naming where it came from.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/pipeline.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import {
  calibratedPrediction, dispatchSignature, fitKernelTimes, kernelTimesIn, predictPlan, rooflineKernelTimes, withAllComputeStep, type KernelTimes,
} from '../../compiler/plan/kernelTimes.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { isDittoError } from '../../core/errors.ts';
import { buildDiTGraph, TINY_DIT } from '../helpers/ditGraph.ts';
import { both, F, fora, schedule } from './schedules.ts';

const STEPS = 6;
const opts = { steps: STEPS, cfgScale: 1.5, batch: 1, caps: LAVAPIPE_CAPS };
const graph = buildDiTGraph(TINY_DIT, 2);
const noCache = compile(graph, undefined, opts).plan;
const reuse = compile(graph, fora(TINY_DIT.depth, STEPS, 3), opts).plan;
const forecast = compile(graph, schedule('taylor', STEPS, (k) => (k < 2 || k % 2 === 0 ? {} : { 'blocks[0].mlp': both(F(1)), 'blocks[1].attn': both(F(1)) })), opts).plan;
const plans: [string, Plan][] = [['no cache', noCache], ['reuse', reuse], ['forecast', forecast]];

/** Every signature a plan dispatches, with how often one run dispatches it. */
function signatureCounts(plan: Plan): Map<string, number> {
  const n = new Map<string, number>();
  const add = (ds: Plan['prologue']['dispatches'], times: number) => {
    for (const d of ds) if (d.guard?.when !== 'reuse') n.set(dispatchSignature(plan, d), (n.get(dispatchSignature(plan, d)) ?? 0) + times);
  };
  add(plan.prologue.dispatches, 1);
  for (const b of plan.stepBody) add(plan.bodies[b]!.dispatches, 1);
  return n;
}

const allSignatures = [...new Set(plans.flatMap(([, p]) => [...signatureCounts(p).keys()]))];
const families = [...new Set(plans.flatMap(([, p]) => p.kernels.map((k) => k.family)))];
const ms = fc.double({ min: 0, max: 50, noNaN: true });
const line = fc.record({ a: ms, b: ms });

/** A synthetic table: some signatures timed, some families fitted, an overall line and an overhead. */
const timesArb: fc.Arbitrary<KernelTimes> = fc.record({
  timed: fc.subarray(allSignatures),
  timedMs: fc.array(ms, { minLength: allSignatures.length, maxLength: allSignatures.length }),
  fitted: fc.subarray(families),
  lines: fc.array(line, { minLength: families.length, maxLength: families.length }),
  overall: line,
  overhead: ms,
}).map((t) => ({
  source: 'measured' as const, adapter: 'synthetic', samples: t.timed.length,
  bySignature: Object.fromEntries(t.timed.map((s, i) => [s, t.timedMs[i]!])),
  byFamily: Object.fromEntries(t.fitted.map((f, i) => [f, t.lines[i]!])),
  overall: t.overall, overheadMsPerDispatch: t.overhead,
}));

const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(a), Math.abs(b)));

describe('pricing a plan from kernel times', () => {
  it('is additive per dispatch: raising one timed signature by δ raises the plan by δ × its dispatches per run', () => {
    fc.assert(fc.property(timesArb, fc.constantFrom(...plans), fc.nat(), ms, (times, [, plan], pick, delta) => {
      const counts = signatureCounts(plan);
      const sig = [...counts.keys()][pick % counts.size]!;
      const before = predictPlan(plan, { ...times, bySignature: { ...times.bySignature, [sig]: 1 } }, LAVAPIPE_CAPS).ms;
      const after = predictPlan(plan, { ...times, bySignature: { ...times.bySignature, [sig]: 1 + delta } }, LAVAPIPE_CAPS).ms;
      close(after - before, delta * counts.get(sig)!);
    }), { numRuns: 60 });
  });

  it('adds the host overhead once per dispatch run', () => {
    fc.assert(fc.property(timesArb, fc.constantFrom(...plans), ms, (times, [, plan], extra) => {
      const dispatches = [...signatureCounts(plan).values()].reduce((a, b) => a + b, 0);
      const a = predictPlan(plan, times, LAVAPIPE_CAPS).ms;
      const b = predictPlan(plan, { ...times, overheadMsPerDispatch: times.overheadMsPerDispatch + extra }, LAVAPIPE_CAPS).ms;
      close(b - a, extra * dispatches);
    }), { numRuns: 40 });
  });

  it('is monotone: a table slower everywhere prices every plan at least as high', () => {
    const slower = (t: KernelTimes, k: number): KernelTimes => ({
      ...t,
      bySignature: Object.fromEntries(Object.entries(t.bySignature).map(([s, v]) => [s, v * k])),
      byFamily: Object.fromEntries(Object.entries(t.byFamily).map(([f, l]) => [f, { a: l.a * k, b: l.b * k }])),
      overall: { a: t.overall.a * k, b: t.overall.b * k },
      overheadMsPerDispatch: t.overheadMsPerDispatch * k,
    });
    fc.assert(fc.property(timesArb, fc.double({ min: 1, max: 4, noNaN: true }), (times, k) => {
      for (const [, plan] of plans) {
        const p = predictPlan(plan, times, LAVAPIPE_CAPS);
        const q = predictPlan(plan, slower(times, k), LAVAPIPE_CAPS);
        expect(q.ms).toBeGreaterThanOrEqual(p.ms * (1 - 1e-12));
        expect(q.stepsMs).toBeLessThanOrEqual(q.ms * (1 + 1e-12));
      }
    }), { numRuns: 40 });
  });

  it('a fully timed table prices a plan as the sum of its dispatches times, whatever the lines say', () => {
    fc.assert(fc.property(timesArb, (times) => {
      const full = { ...times, bySignature: Object.fromEntries(allSignatures.map((s, i) => [s, (i % 7) + 0.5])) };
      for (const [, plan] of plans) {
        const expected = [...signatureCounts(plan)].reduce((sum, [s, n]) => sum + n * (full.bySignature[s]! + full.overheadMsPerDispatch), 0);
        close(predictPlan(plan, full, LAVAPIPE_CAPS).ms, expected);
        expect(predictPlan(plan, full, LAVAPIPE_CAPS).measuredShare).toBe(1);
      }
    }), { numRuns: 20 });
  });

  it('the roofline table reproduces the plan\'s own cost model', () => {
    for (const [, plan] of plans) {
      const t = predictPlan(plan, rooflineKernelTimes(), LAVAPIPE_CAPS);
      close(t.stepsMs, 1000 * plan.cost.perStep.reduce((a, c) => a + c.seconds, 0));
      close(t.ms - t.stepsMs, 1000 * plan.cost.prologue.seconds);
      expect(t.measuredShare).toBe(0);
    }
  });

  const otherBatch = compile(buildDiTGraph(TINY_DIT, 4), fora(TINY_DIT.depth, STEPS, 3), { ...opts, batch: 2 }).plan;
  it('gives a calibrated speed-up only against the all-compute step of the same model and options', () => {
    fc.assert(fc.property(timesArb, (times) => {
      const recorded = withAllComputeStep(times, noCache, LAVAPIPE_CAPS);
      const p = calibratedPrediction(reuse, recorded);
      close(p.speedup!, predictPlan(noCache, times, LAVAPIPE_CAPS).stepsMs / predictPlan(reuse, times, LAVAPIPE_CAPS).stepsMs);
      close(calibratedPrediction(noCache, recorded).speedup!, 1);
      expect(p.perStepMs).toHaveLength(STEPS);
      close(p.perStepMs.reduce((a, b) => a + b, 0), p.stepsMs);
      expect(calibratedPrediction(reuse, times).speedup).toBeNull();
      expect(calibratedPrediction(otherBatch, recorded).speedup).toBeNull();
    }), { numRuns: 10 });
  });
});

describe('fitting the host time', () => {
  it('separates a time per dispatch from a time per run over probes of different dispatch counts, and charges both', () => {
    const walls = [100, 400, 250, 40].map((n, i) => ({ dispatches: n, kernelMs: 1000 + 37 * i, wallMs: 1000 + 37 * i + 0.25 * n + 6 }));
    const t = fitKernelTimes([{ signature: 's', family: 'matmul', roofMs: 1, ms: 2 }], 'unit', walls);
    close(t.overheadMsPerDispatch, 0.25);
    close(t.overheadMsPerRun!, 6);
    const base = predictPlan(noCache, { ...t, overheadMsPerRun: 0 }, LAVAPIPE_CAPS);
    close(predictPlan(noCache, t, LAVAPIPE_CAPS).ms - base.ms, 6);
    expect(predictPlan(noCache, t, LAVAPIPE_CAPS).stepsMs).toBe(base.stepsMs);
  });

  it('never fits a negative host time (a profiled run slower than the plain one)', () => {
    const t = fitKernelTimes([], 'unit', [{ dispatches: 10, kernelMs: 50, wallMs: 40 }, { dispatches: 20, kernelMs: 90, wallMs: 80 }]);
    expect(t.overheadMsPerDispatch).toBe(0);
    expect(t.overheadMsPerRun).toBe(0);
  });
});

describe('reading a kernel-times table', () => {
  const good = withAllComputeStep({ ...rooflineKernelTimes(), source: 'measured', bySignature: { 'k@1x1x1': 2 }, samples: 3 }, noCache, LAVAPIPE_CAPS);

  it('takes the times of a search (top level) and of a bench report (under data), and round-trips them', () => {
    expect(kernelTimesIn({ kernelTimes: good, front: [] }, 'front.json')).toEqual(good);
    expect(kernelTimesIn({ title: 'bench', data: { kernelTimes: good } }, 'report.json')).toEqual(good);
    expect(kernelTimesIn(JSON.parse(JSON.stringify({ kernelTimes: { ...good, signatures: 1 } })), 'x')).toEqual(good);
  });

  it.each([
    [[1, 2], /x\.json: not a JSON object/],
    [{ front: [] }, /x\.json: no "kernelTimes"/],
    [{ kernelTimes: 3 }, /x\.json: "kernelTimes" is not an object/],
    [{ kernelTimes: { ...good, source: 'guess' } }, /x\.json: kernelTimes\.source must be 'measured' or 'roofline'/],
    [{ kernelTimes: { ...good, bySignature: { a: -1 } } }, /x\.json: kernelTimes\.bySignature\["a"\] must be a finite number ≥ 0, got -1/],
    [{ kernelTimes: { ...good, byFamily: { matmul: { a: 1 } } } }, /kernelTimes\.byFamily\["matmul"\]\.b must be a finite number/],
    [{ kernelTimes: { ...good, overall: null } }, /kernelTimes\.overall must be a line/],
    [{ kernelTimes: { ...good, overheadMsPerDispatch: 'fast' } }, /kernelTimes\.overheadMsPerDispatch must be a finite number/],
    [{ kernelTimes: { ...good, samples: 1.5 } }, /kernelTimes\.samples must be a whole number/],
  ])('refuses %j naming the file', (value, message) => {
    let err: unknown;
    try {
      kernelTimesIn(value, 'x.json');
    } catch (e) {
      err = e;
    }
    expect(isDittoError(err) && err.isUserError).toBe(true);
    expect((err as Error).message).toMatch(message);
  });
});
