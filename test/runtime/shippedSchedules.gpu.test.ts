/**
 * Every shipped schedule (models/schedules/*.ditto) runs on the GPU and computes what the reference
 * executor defines, on a small random DiT, for two seeds (issue 7's acceptance test).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProgram, resolveSchedule } from '../../compiler/frontend.ts';
import { createRunner } from '../../runtime/run/runner.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { ROOT } from '../cli/helpers.ts';
import { TINY, classesFor, maxRelativeError, planFor, tinyGraph, weightsFor, type Scenario } from './harness.ts';

const gpu = await gpuOrSkip();
const LIB = path.join(ROOT, 'models/schedules');
const shipped = readdirSync(LIB)
  .filter((f) => f.endsWith('.ditto'))
  .flatMap((f) => [...readFileSync(path.join(LIB, f), 'utf8').matchAll(/^schedule\s+([A-Za-z_][A-Za-z0-9_]*)/gm)].map((m) => ({ file: path.join(LIB, f), name: m[1]! })));

describe.skipIf(!gpu)('shipped schedules on the GPU ≡ reference executor', () => {
  it('finds the library', () => {
    expect(shipped.length).toBeGreaterThanOrEqual(15);
  });

  for (const { file, name } of shipped) {
    it(`${name} (${path.basename(file)})`, async () => {
      const s: Scenario = { cfg: TINY, batch: 1, steps: 50, sampler: 'ddpm', seed: 0, weightSeed: 5, cfgScale: 1.5 };
      const graph = tinyGraph(TINY, 2);
      const schedule = resolveSchedule(loadProgram(file), name, graph, { steps: 50 });
      const { plan } = planFor(gpu!, s, schedule);
      const weights = weightsFor(graph, s.weightSeed);
      const runner = await createRunner(plan, weights, { gpu: gpu! });
      try {
        for (const seed of [1, 2]) {
          const scenario = { ...s, seed };
          const got = await runner.run({ seed, classes: classesFor(scenario) });
          const want = sampleReference(graph, weights, schedule, { sampler: 'ddpm', cfgScale: 1.5, classes: classesFor(scenario), seed });
          const err = maxRelativeError(got.latents.data, want.latents.data);
          // Taylor schedules included (uneven computes too): the plan's forecast coefficients and the
          // reference's come from one definition (compiler/ir/rules.ts).
          const tolerance = 1e-4;
          expect(err, `seed ${seed}: max error ${err} relative to the result's scale`).toBeLessThan(tolerance);
          if (plan.dynamic) {
            const ref = want.stats.dynamic;
            expect(got.dynamic?.map((d) => d.reusedSteps)).toEqual(ref.map((d) => d.reused));
          }
        }
      } finally {
        runner.destroy();
      }
    }, 1_200_000);
  }
});
