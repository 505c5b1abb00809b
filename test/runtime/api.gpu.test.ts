/** The Node API: compile ditto source text to a plan, run it, get tensors. */
import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { calibratedPrediction, compile, createRunner, DittoError, encodeImagePngs, kernelTimesIn, measureKernelTimesFor, noiseForRun, shipped } from '../../index.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { DIT_FILE, classesFor, maxRelativeError, runOnReference, tinyGraph, TINY, weightsFor } from './harness.ts';
import { loadProgram, resolveSchedule } from '../../compiler/frontend.ts';

const source = `use "${DIT_FILE}"
// A user's own schedule, written inline next to the model it is for.
schedule every_other for DiT {
  steps 4
  blocks[*].mlp reuse
  blocks[*].mlp compute at every 2
}
`;

describe('Node API: compile', () => {
  it('compiles source text with a schedule into a plan', async () => {
    const plan = await compile(source, { model: 'DiT-Tiny', schedule: 'every_other', steps: 4, cfg: 2, caps: 'lavapipe' });
    expect(plan.format).toBe('ditto-plan');
    expect(plan.schedule.name).toBe('every_other');
    expect(plan.options.cfgScale).toBe(2);
    expect(plan.cost.flopsRatio).toBeLessThan(1);
  });

  it('reports source errors as a DittoError with rendered diagnostics', async () => {
    const err = await compile(source.replace('blocks[*].mlp reuse', 'blocks[*].mpl reuse'), { model: 'DiT-Tiny', schedule: 'every_other', steps: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DittoError);
    expect((err as DittoError).detail).toContain('blocks[*].mlp');
  });
});

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('Node API: run', () => {
  it('runs a compiled plan from tensors or from a plan JSON text, matching the reference executor', async () => {
    const plan = await compile(source, { model: 'DiT-Tiny', schedule: 'every_other', steps: 4, cfg: 2 });
    const graph = tinyGraph(TINY, 2);
    const weights = weightsFor(graph, 9);
    const runner = await createRunner(JSON.stringify(plan), weights, { gpu: gpu! });
    const scenario = { cfg: TINY, batch: 1, steps: 4, sampler: 'ddpm' as const, seed: 4, weightSeed: 9, cfgScale: 2 };
    const { latents } = await runner.run({ seed: scenario.seed, classes: classesFor(scenario) });
    runner.destroy();
    const file = '/tmp/ditto-api-inline.ditto';
    const schedule = resolveSchedule(loadProgram(file, { inline: new Map([[file, source]]) }), 'every_other', graph, { steps: 4 });
    const want = runOnReference(graph, weights, schedule, scenario);
    expect(maxRelativeError(latents.data, want.data)).toBeLessThan(1e-4);
  });
});

describe.skipIf(!gpu)('Node API: progress, supplied noise, cancellation, close', () => {
  const steps = 6;
  const setup = async () => {
    const plan = await compile(source.replace('steps 4', `steps ${steps}`), { model: 'DiT-Tiny', schedule: 'every_other', steps });
    return { plan, weights: weightsFor(tinyGraph(TINY, 1), 3) };
  };

  it('reports every step, takes supplied noise, and gives the same latents with or without a signal', async () => {
    const { plan, weights } = await setup();
    const runner = await createRunner(plan, weights, { gpu: gpu! });
    const seen: number[] = [];
    const a = await runner.run({ seed: 7, onStep: (k) => seen.push(k) });
    expect(seen).toEqual([...Array(steps).keys()]);
    const b = await runner.run({ seed: 123, noise: noiseForRun(7, 1, a.latents.shape.slice(1), steps), signal: new AbortController().signal });
    expect(Array.from(b.latents.data)).toEqual(Array.from(a.latents.data));
    runner.close();
  });

  it('rejects with E_ABORTED when the signal aborts mid-run, stays usable, and refuses to run once closed', async () => {
    const { plan, weights } = await setup();
    const runner = await createRunner(plan, weights, { gpu: gpu! });
    const want = await runner.run({ seed: 1 });
    const ac = new AbortController();
    const seen: number[] = [];
    const err = await runner.run({ seed: 1, signal: ac.signal, onStep: (k) => { seen.push(k); if (k === 1) ac.abort(new Error('user pressed stop')); } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DittoError);
    expect((err as DittoError).code).toBe('E_ABORTED');
    expect((err as DittoError).message).toContain('user pressed stop');
    expect(seen).toEqual([0, 1]);
    const pre = await runner.run({ seed: 1, signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect((pre as DittoError).code).toBe('E_ABORTED');
    const again = await runner.run({ seed: 1 });
    expect(Array.from(again.latents.data)).toEqual(Array.from(want.latents.data));
    runner.close();
    runner.close();
    const closed = await runner.run({ seed: 1 }).catch((e: unknown) => e);
    expect((closed as DittoError).code).toBe('E_USAGE');
  });
});

describe('Node API: images and shipped files', () => {
  it('encodes each image as its own PNG, grey for one channel, bytes as the grid encoder maps them', () => {
    const data = new Float32Array(2 * 1 * 2 * 3).map((_, i) => (i < 6 ? -1 : 1));
    const pngs = encodeImagePngs({ dtype: 'f32', shape: [2, 1, 2, 3], data });
    expect(pngs).toHaveLength(2);
    const [a, b] = pngs.map((p) => PNG.sync.read(p));
    expect([a!.width, a!.height]).toEqual([3, 2]);
    expect(a!.data[0]).toBe(0);
    expect(b!.data[0]).toBe(255);
    expect(() => encodeImagePngs({ dtype: 'f32', shape: [6], data: new Float32Array(6) })).toThrow(DittoError);
  });

  it('names shipped files that exist', async () => {
    const { existsSync } = await import('node:fs');
    for (const [k, p] of Object.entries(shipped)) expect(existsSync(p), k).toBe(true);
  });
});

describe.skipIf(!gpu)('Node API: kernel times', () => {
  it('measures kernel times on probe plans and prices a plan of the same model and batch with them', async () => {
    const times = await measureKernelTimesFor(DIT_FILE, { model: 'DiT-Tiny', cfg: 2, gpu: gpu! });
    expect(times.source).toBe('measured');
    expect(times.samples).toBeGreaterThan(0);
    expect(Object.keys(times.bySignature).length).toBeGreaterThan(0);
    const plan = await compile(source, { model: 'DiT-Tiny', schedule: 'every_other', steps: 4, cfg: 2 });
    const p = calibratedPrediction(plan, kernelTimesIn(JSON.parse(JSON.stringify({ kernelTimes: times })), 'times'));
    expect(p.msPerRun).toBeGreaterThan(0);
    expect(p.measuredShare).toBeGreaterThan(0.5);
    // Reusing the MLPs on half the steps removes dispatches: the plan is predicted faster than no cache.
    expect(p.speedup!).toBeGreaterThan(1);
  }, 300_000);
});
