/**
 * `ditto tune` on the GPU: the tuned plan runs and gives the untuned plan's latents within the
 * kernel tolerance; the choices are recorded and cached per adapter; the cache applies at run time;
 * bad input is a clear error with exit 1.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tune } from '../../index.ts';
import { compile } from '../../compiler/pipeline.ts';
import { compileCapsFor } from '../../compiler/plan/caps.ts';
import { planHash } from '../../compiler/plan/retune.ts';
import type { MatmulConfig } from '../../compiler/kernels/index.ts';
import { adapterKey, applyTuningCache, readTuningCache } from '../../runtime/tune.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';
import { maxRelativeError, runOnGpu, tinyGraph, TINY, weightsFor, type Scenario } from '../runtime/harness.ts';

const gpu = await gpuOrSkip();
const SLOW = { timeout: 1_800_000 };

describe.skipIf(!gpu)('ditto tune', () => {
  const s: Scenario = { cfg: TINY, batch: 1, steps: 2, sampler: 'ddpm', seed: 3, weightSeed: 5, cfgScale: 1.5 };
  const graph = tinyGraph(TINY, 2);
  const plan = gpu ? compile(graph, undefined, { steps: 2, batch: 1, sampler: 'ddpm', f16: false, guide: 'first3', caps: compileCapsFor(gpu.report), cfgScale: 1.5 }).plan : undefined!;
  const dir = mkdtempSync(path.join(tmpdir(), 'ditto-tune-'));
  const cacheFile = path.join(dir, 'cache.json');

  it('writes a plan whose matmuls are the fastest candidates, records them, and samples as the untuned plan does', SLOW, async () => {
    const { plan: tuned, tuning } = await tune(plan, { gpu: gpu!, budgetMs: 5, maxCandidates: 2, cacheFile });
    expect(tuning.kernels.length).toBe(plan.kernels.filter((k) => k.family === 'matmul').length);
    for (const k of tuning.kernels) {
      expect(k.source).toBe('timed');
      expect(k.ms!).toBeLessThanOrEqual(k.previousMs!);
      expect((tuned.kernels[k.kernel]!.config as MatmulConfig).variant).toEqual(k.variant);
    }
    expect(tuned.tuning).toEqual(tuning);
    expect(tuned.hash).toBe(planHash(tuned));
    const weights = weightsFor(graph, s.weightSeed);
    const a = await runOnGpu(gpu!, plan, weights, s);
    const b = await runOnGpu(gpu!, tuned, weights, s);
    expect(maxRelativeError(b.latents.data, a.latents.data)).toBeLessThan(1e-4);

    // The cache holds this adapter's choices; a second tune takes them without timing, and the run-time
    // cache gives the same kernels.
    const cache = readTuningCache(cacheFile);
    expect(Object.keys(cache.adapters)).toEqual([adapterKey(gpu!)]);
    const again = await tune(plan, { gpu: gpu!, budgetMs: 5, maxCandidates: 2, cacheFile });
    expect(again.tuning.kernels.every((k) => k.source === 'cache')).toBe(true);
    expect(again.plan.kernels).toEqual(tuned.kernels);
    expect(applyTuningCache(gpu!, plan, cacheFile).kernels).toEqual(tuned.kernels);
  });

  it('fails clearly on a missing plan, a file that is not a plan, a bad cache, and an output over its input', SLOW, () => {
    const planFile = path.join(dir, 'plan.json');
    writeFileSync(planFile, JSON.stringify(plan));
    const missing = runDitto(['tune', path.join(dir, 'nope.json'), '-o', path.join(dir, 'o.json')]);
    expect(looksLikeUserError(missing)).toBe(true);
    expect(missing.stderr).toContain('nope.json');
    const notPlan = path.join(dir, 'package.json');
    writeFileSync(notPlan, readFileSync(path.resolve('package.json')));
    const wrong = runDitto(['tune', notPlan, '-o', path.join(dir, 'o.json')]);
    expect(looksLikeUserError(wrong)).toBe(true);
    expect(wrong.stderr).toMatch(/E_PLAN.*not a ditto plan/);
    const over = runDitto(['tune', planFile, '-o', planFile]);
    expect(looksLikeUserError(over)).toBe(true);
    expect(over.stderr).toMatch(/is the same file as the plan .*never writes over an input/);
    const badCache = path.join(dir, 'bad-cache.json');
    writeFileSync(badCache, '{"format": "something else"}');
    const bc = runDitto(['tune', planFile, '-o', path.join(dir, 'o.json'), '--cache', badCache]);
    expect(looksLikeUserError(bc)).toBe(true);
    expect(bc.stderr).toContain('not a ditto tuning cache');
    const noCache = runDitto(['run', planFile, '--weights', notPlan, '--tuning-cache', path.join(dir, 'none.json')]);
    expect(looksLikeUserError(noCache)).toBe(true);
    for (const r of [missing, wrong, over, bc]) expect(r.stdout).toBe('');
    expect(() => readFileSync(path.join(dir, 'o.json'))).toThrow();
  });
});
