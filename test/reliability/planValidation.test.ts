/**
 * F2/F4/F7: a plan is checked fully on load — every field explain and run read, buffer sizes
 * against the options, per-step binding ranges, no overlapping writable aliasing — and its hash
 * must match unless the caller opts out; explain never crashes on a plan load accepts.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DittoError } from '../../core/errors.ts';
import { compile } from '../../compiler/pipeline.ts';
import { loadPlan } from '../../compiler/plan/load.ts';
import { planSummary } from '../../compiler/plan/summary.ts';
import { explainText } from '../../compiler/explain/text.ts';
import { explainSvg } from '../../compiler/explain/svg.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { buildDiTGraph, TINY_DIT } from '../helpers/ditGraph.ts';
import { fora } from '../compiler/schedules.ts';
import { mutatePlan } from '../../tools/fuzz/plans.ts';
import { Rng } from '../../tools/fuzz/harness.ts';
import { ditto, tempDir } from './helpers.ts';

const plan = compile(buildDiTGraph(TINY_DIT, 2), fora(TINY_DIT.depth, 4, 2), { steps: 4, cfgScale: 1.5, batch: 1 }).plan;
const text = JSON.stringify(plan);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- edits break the types on purpose
const edited = (edit: (p: any) => void): Plan => {
  const p = JSON.parse(text);
  edit(p);
  return p;
};

function planError(p: unknown, allowEdited = true): string {
  try {
    loadPlan(JSON.parse(JSON.stringify(p)), { allowEdited });
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    expect((e as DittoError).code).toBe('E_PLAN');
    return (e as DittoError).message;
  }
  throw new Error('loadPlan accepted the plan');
}

describe('the plan hash', () => {
  it('a compiled plan loads; one edited by hand is refused unless allowed', () => {
    expect(loadPlan(text).hash).toBe(plan.hash);
    const p = edited((q) => (q.kernels[0].wgsl += '\n// tuned by hand\n'));
    expect(planError(p, false)).toMatch(/contents do not match its hash.*--allow-edited-plan/);
    expect(loadPlan(p, { allowEdited: true }).kernels[0]!.wgsl).toMatch(/tuned by hand/);
  });

  it('the CLI names the plan file, and --allow-edited-plan explains it', async () => {
    const file = path.join(tempDir(), 'edited.json');
    writeFileSync(file, JSON.stringify(edited((q) => (q.cost.predictedSpeedup = 9))));
    const r = await ditto('explain', file);
    expect(r.exit).toBe(1);
    expect(r.err).toContain(`${file}: plan: its contents do not match its hash`);
    expect((await ditto('explain', '--allow-edited-plan', file)).exit).toBe(0);
  });
});

describe('sizes and bindings', () => {
  it('options.batch disagreeing with the latent buffer (the F2 reproducer) is refused', () => {
    expect(planError(edited((q) => (q.options.batch = 2)))).toMatch(/options\.batch is 2, but the latent buffer holds 1 image/);
  });

  it('a buffer too small for its shape, a binding past its buffer at the last step, are refused', () => {
    expect(planError(edited((q) => (q.buffers[q.io.latent].bytes = 16)))).toMatch(/buffers\[\d+\]\.shape .* needs \d+ bytes/);
    const noise = plan.bodies.flatMap((b, i) => b.dispatches.flatMap((d, j) => d.bindings.map((x, m) => ({ i, j, m, x })))).find((e) => e.x.perStep !== undefined)!;
    expect(planError(edited((q) => (q.bodies[noise.i].dispatches[noise.j].bindings[noise.m].perStep = noise.x.perStep! * 4)))).toMatch(/reaches byte .* at step/);
  });

  it('a dispatch binding one buffer twice with overlapping ranges where one writes is refused', () => {
    const site = plan.bodies.flatMap((b, i) => b.dispatches.map((d, j) => ({ i, j, d }))).find(({ d }) => {
      const access = plan.kernels[d.kernel]!.bindings.map((b) => b.access);
      return access.includes('read_write') && access.some((a) => a === 'read');
    })!;
    const access = plan.kernels[site.d.kernel]!.bindings.map((b) => b.access);
    const w = site.d.bindings.find((b) => access[b.binding] === 'read_write')!;
    const r = site.d.bindings.findIndex((b) => access[b.binding] === 'read');
    expect(planError(edited((q) => {
      const b = q.bodies[site.i].dispatches[site.j].bindings[r];
      b.buffer = w.buffer;
      b.offset = w.offset;
      delete b.size;
      delete b.perStep;
    }))).toMatch(/twice with overlapping ranges .* one of them writes/);
  });
});

describe('storage types of bindings (--f16)', () => {
  const f16 = compile(buildDiTGraph(TINY_DIT, 2), fora(TINY_DIT.depth, 4, 2), { steps: 4, cfgScale: 1.5, batch: 1, f16: true }).plan;

  it('an f16 plan binds every f16 buffer (matmul biases included) through an f16 binding', () => {
    const seen = { f16: 0, bias: 0 };
    for (const body of [f16.prologue, ...f16.bodies]) {
      for (const d of body.dispatches) {
        d.bindings.forEach((x) => {
          const kb = f16.kernels[d.kernel]!.bindings[x.binding]!;
          expect(kb.elemType === 'f16', `${kb.name} of kernel ${d.kernel} on ${f16.buffers[x.buffer]!.name}`).toBe(f16.buffers[x.buffer]!.dtype === 'f16');
          if (kb.elemType === 'f16') seen.f16++;
          if (kb.elemType === 'f16' && kb.name === 'bias') seen.bias++;
        });
      }
    }
    expect(seen.bias).toBeGreaterThan(0);
    expect(loadPlan(JSON.stringify(f16)).hash).toBe(f16.hash);
  });

  it('a binding whose storage type disagrees with its buffer is refused (a kernel would read garbled values)', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- edits break the types on purpose
    const p: any = JSON.parse(JSON.stringify(f16));
    const k = p.kernels.findIndex((x: Plan['kernels'][number]) => x.bindings.some((b) => b.name === 'bias' && b.elemType === 'f16'));
    p.kernels[k].bindings.find((b: { name: string }) => b.name === 'bias').elemType = 'f32';
    expect(planError(p)).toMatch(/binds buffer \d+ \(f16\) to kernel \d+'s f32 binding/);
  });
});

describe('explain on plans load accepts (F4)', () => {
  it('refuses the fields explain crashed on: a heatmap row that is not an object, a non-array uncond, a body without cacheReads', () => {
    expect(planError(edited((q) => (q.heatmap.rows[0] = 3)))).toMatch(/heatmap\.rows\[0\] must be an object/);
    expect(planError(edited((q) => (q.heatmap.uncond = 'x')))).toMatch(/heatmap\.uncond must be an array/);
    expect(planError(edited((q) => delete q.bodies[0].cacheReads))).toMatch(/bodies\[0\]\.cacheReads must be an array/);
  });

  it('any single mutation is refused with E_PLAN or explains without an exception', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        const p = mutatePlan(new Rng(seed), JSON.parse(text));
        let loaded: Plan;
        try {
          loaded = loadPlan(p, { allowEdited: true });
        } catch (e) {
          expect((e as DittoError).code).toBe('E_PLAN');
          return;
        }
        explainText(loaded);
        explainSvg(loaded);
        planSummary(loaded);
      }),
      { numRuns: 300 },
    );
  });
});
