/**
 * Bit-level contracts of the runtime: the all-compute schedule is the no-schedule plan (same
 * kernels, same order, bit-identical output), and the same seed gives the same bits run after run.
 */
import { describe, expect, it } from 'vitest';
import type { BranchActions } from '../../compiler/ir/schedule.ts';
import { computeEverything } from '../../compiler/ir/schedule.ts';
import { createRunner } from '../../runtime/run/runner.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { TINY, classesFor, planFor, runOnGpu, weightsFor, type Scenario } from './harness.ts';

const gpu = await gpuOrSkip();

const s: Scenario = { cfg: TINY, batch: 1, steps: 5, sampler: 'ddpm', seed: 7, weightSeed: 3, cfgScale: 4 };

describe.skipIf(!gpu)('runtime determinism', () => {
  it('an explicit all-compute schedule gives bit-identical output to no schedule', async () => {
    const none = planFor(gpu!, s, undefined);
    const base = computeEverything('DiT', s.steps);
    const explicit = {
      ...base,
      name: 'everything-computes',
      table: base.table.map(() => {
        const row: Record<string, BranchActions> = {};
        for (let b = 0; b < TINY.depth; b++) {
          for (const t of ['attn', 'mlp']) row[`blocks[${b}].${t}`] = { cond: { kind: 'compute' }, uncond: { kind: 'compute' } };
        }
        return row;
      }),
    };
    const all = planFor(gpu!, s, explicit);
    expect(all.plan.bodies).toEqual(none.plan.bodies);
    const w = weightsFor(none.graph, s.weightSeed);
    const a = await runOnGpu(gpu!, none.plan, w, s);
    const b = await runOnGpu(gpu!, all.plan, w, s);
    expect(Buffer.from(b.latents.data.buffer).equals(Buffer.from(a.latents.data.buffer))).toBe(true);
  });

  it('the same seed gives bit-identical output run after run; another seed does not', async () => {
    const { graph, plan } = planFor(gpu!, s, undefined);
    const runner = await createRunner(plan, weightsFor(graph, s.weightSeed), { gpu: gpu! });
    const one = await runner.run({ seed: 11, classes: classesFor(s) });
    const two = await runner.run({ seed: 11, classes: classesFor(s) });
    const other = await runner.run({ seed: 12, classes: classesFor(s) });
    runner.destroy();
    expect(Buffer.from(two.latents.data.buffer).equals(Buffer.from(one.latents.data.buffer))).toBe(true);
    expect(Buffer.from(other.latents.data.buffer).equals(Buffer.from(one.latents.data.buffer))).toBe(false);
  });

  it('rejects a class list that does not match the compiled batch, and a class out of range', async () => {
    const { graph, plan } = planFor(gpu!, s, undefined);
    const runner = await createRunner(plan, weightsFor(graph, s.weightSeed), { gpu: gpu! });
    await expect(runner.run({ seed: 1, classes: [1, 2] })).rejects.toThrow(/compiled for 1 image per run, but 2 classes were given/);
    await expect(runner.run({ seed: 1, classes: [10] })).rejects.toThrow(/class 1 is 10; model DiT has classes 0\.\.9/);
    runner.destroy();
  });

  it('names every missing or mis-shaped weight before touching the GPU', async () => {
    const { graph, plan } = planFor(gpu!, s, undefined);
    const w = weightsFor(graph, 1);
    w.delete('blocks.1.mlp.fc2.bias');
    const qkv = w.get('blocks.0.attn.qkv.weight')!;
    w.set('blocks.0.attn.qkv.weight', { ...qkv, shape: [qkv.shape[1]!, qkv.shape[0]!] });
    const err = await createRunner(plan, w, { gpu: gpu!, weightsFile: 'w.safetensors' }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain("the weights in 'w.safetensors' do not fit the plan");
    expect(err?.message).toContain('missing tensor blocks.1.mlp.fc2.bias [64]');
    expect(err?.message).toContain('tensor blocks.0.attn.qkv.weight is [64, 192], the plan expects [192, 64]');
  });
});
