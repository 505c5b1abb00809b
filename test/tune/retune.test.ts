/**
 * Tuned plans without a GPU: any choice of candidate variants gives a plan that loads, whose hash is
 * the sha256 of the rest (as the compiler writes it), whose dispatches match the re-emitted kernels,
 * and which records the choice; choosing the compiled variants again gives back the original kernels.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compile } from '../../compiler/pipeline.ts';
import { HARDWARE_CAPS, LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { loadPlan } from '../../compiler/plan/load.ts';
import { applyMatmulVariants, planDispatches, planHash, tunableKernels } from '../../compiler/plan/retune.ts';
import { emitMatmul, matmulCandidates, type MatmulConfig, type MatmulVariant } from '../../compiler/kernels/index.ts';
import { tinyGraph, TINY } from '../runtime/harness.ts';

describe('tuned plans', () => {
  for (const caps of [LAVAPIPE_CAPS, HARDWARE_CAPS]) {
    const { plan } = compile(tinyGraph(TINY, 2), undefined, { steps: 2, batch: 1, sampler: 'ddpm', f16: false, guide: 'first3', caps, cfgScale: 1.5 });

    it(`apply any candidate choice consistently (${caps.name} plan)`, () => {
      const { tunable, skipped } = tunableKernels(plan);
      expect(tunable.length).toBeGreaterThan(2);
      expect(skipped).toEqual([]);
      const lists = tunable.map((t) => matmulCandidates(t.config, caps));
      fc.assert(
        fc.property(fc.array(fc.nat(), { minLength: tunable.length, maxLength: tunable.length }), (picks) => {
          const choices = new Map<number, MatmulVariant>(tunable.map((t, i) => [t.kernel, lists[i]![picks[i]! % lists[i]!.length]!]));
          const kernels = tunable.map((t) => ({ kernel: t.kernel, variant: choices.get(t.kernel), previous: t.config.variant, ms: 1, previousMs: 2, candidates: 3, source: 'timed' as const }));
          const tuned = applyMatmulVariants(plan, choices, caps, { adapter: 'test', kernels, skipped: [] });
          expect(loadPlan(JSON.parse(JSON.stringify(tuned)))).toBeTruthy();
          expect(tuned.hash).toBe(planHash(tuned));
          expect(tuned.tuning?.kernels).toEqual(kernels);
          for (const [id, v] of choices) {
            const k = tuned.kernels[id]!;
            expect((k.config as MatmulConfig).variant).toEqual(v);
            const e = emitMatmul(k.config as MatmulConfig);
            expect(k.wgsl).toBe(e.wgsl);
            expect(k.key).toBe(e.key);
            for (const d of planDispatches(tuned).filter((x) => x.kernel === id)) expect(d.workgroups).toEqual(e.dispatch);
          }
          // Everything but the matmul kernels and their dispatch sizes is untouched.
          expect(tuned.buffers).toEqual(plan.buffers);
          expect(planDispatches(tuned).map((d) => ({ ...d, workgroups: null }))).toEqual(planDispatches(plan).map((d) => ({ ...d, workgroups: null })));
          const back = applyMatmulVariants(tuned, new Map(tunable.map((t) => [t.kernel, t.config.variant])), caps, { adapter: 'test', kernels: [], skipped: [] });
          expect(back.kernels).toEqual(plan.kernels);
          expect(planDispatches(back)).toEqual(planDispatches(plan));
        }),
        { numRuns: 20 },
      );
    });
  }

  it('the compiler writes the hash planHash recomputes', () => {
    const { plan } = compile(tinyGraph(TINY, 1), undefined, { steps: 2, batch: 1, sampler: 'ddim', f16: false, guide: 'first3', caps: LAVAPIPE_CAPS });
    expect(planHash(plan)).toBe(plan.hash);
  });
});
