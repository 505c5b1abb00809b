/** The Node API: compile ditto source text to a plan, run it, get tensors. */
import { describe, expect, it } from 'vitest';
import { compile, createRunner, DittoError } from '../../index.ts';
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
