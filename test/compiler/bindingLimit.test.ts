/** Fusion never builds a kernel with more storage bindings than the adapter allows per stage. */
import { describe, expect, it } from 'vitest';
import { loadProgram, lowerModel, resolveSchedule } from '../../compiler/frontend.ts';
import { compile } from '../../compiler/pipeline.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';

describe('binding limits', () => {
  const prog = loadProgram('models/fmnist.ditto');
  const graph = lowerModel(prog, { model: 'DiT-FMNIST', batch: 2 });
  const schedule = resolveSchedule(prog, 'ebcache_table', graph, { steps: 50 });
  for (const limit of [6, 8, 16]) {
    it(`every kernel binds at most ${limit} buffers when the adapter allows ${limit}`, () => {
      const { plan } = compile(graph, schedule, { steps: 50, batch: 1, cfgScale: 3, caps: { ...LAVAPIPE_CAPS, maxStorageBuffersPerShaderStage: limit } });
      const worst = Math.max(...plan.kernels.map((k) => k.bindings.length));
      expect(worst).toBeLessThanOrEqual(limit);
    });
  }
});
