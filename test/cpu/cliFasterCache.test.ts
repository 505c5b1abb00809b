/**
 * The shipped `fastercache` (and `fastercache_attn`, which adds the attention forecast) from the command line, without a GPU: `ditto check` accepts the file,
 * `ditto compile --cfg` writes a plan that stores the bands with a lowpass dispatch and runs half
 * the batch on the cfg_cache steps, `ditto run --device cpu` computes what the reference executor
 * defines, and compiling without CFG is refused by name, exit 1, no plan written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSource } from '../../compiler/compileSource.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { randomWeights } from '../../runtime/weights/random.ts';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';
import { maxRelativeError } from '../runtime/harness.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ditto-fastercache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SET = 'depth=2,hidden=32,heads=2,latent=8,channels=4,classes=10,patch=2';
const SCHEDULE = 'fastercache(warm=4, tail=2)';

describe('fastercache from the CLI', () => {
  // fastercache_attn adds the attention forecast (`linear`, its weight rising) on the same steps.
  it.each([SCHEDULE, 'fastercache_attn(warm=4, tail=2)'])('%s: check, compile with CFG, run on the CPU plan interpreter ≡ reference', async (spec) => {
    expect(runDitto(['check', 'models/schedules/fastercache.ditto']).code).toBe(0);
    const planFile = path.join(dir, `${spec.slice(0, spec.indexOf('('))}.json`);
    const c = runDitto(['compile', 'models/dit.ditto', '--model', 'DiT', '--set', SET, '--schedule', spec, '--steps', '12', '--batch', '2', '--cfg', '3', '--caps', 'lavapipe', '-o', planFile]);
    expect(c.code, c.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(planFile, 'utf8')) as Plan;
    expect(plan.kernels.some((k) => k.family === 'lowpass')).toBe(true);
    expect(plan.heatmap.uncond[5]).toMatch(/^d+b$/);
    expect(plan.cost.flopsRatio).toBeLessThan(1);
    const forecasts = [...JSON.stringify(plan).matchAll(/forecast blocks\[(\d)\]\.attn: order 1, the coefficients of d₁…d1 in params\[(\d+)\]/g)];
    if (spec.startsWith('fastercache_attn')) {
      // Steps 5, 7, 9: each block's attention in the conditional half (the unconditional one is
      // dead), one body for the three, the coefficient w·h in the step's params row, the same for
      // both blocks: w = 0.3 + 0.4·(1 − t), t = (S − 1 − k)/S, and h the steps between the last two
      // computes (1 at step 5, after the warm-up's 3 and 4; then 2).
      expect(new Set(forecasts.map((f) => f[1])).size).toBe(2);
      const columns = new Set(forecasts.map((f) => Number(f[2])));
      expect(columns.size).toBe(1);
      const column = [...columns][0]!;
      expect(plan.sampler.fields[column]).toMatch(/^cache_/);
      expect(new Set([5, 7, 9].map((k) => plan.stepBody[k])).size).toBe(1);
      const w = (k: number) => 0.3 + 0.4 * (1 - (12 - 1 - k) / 12);
      expect(plan.sampler.rows[5]![column]).toBeCloseTo(w(5) * 1, 6);
      expect(plan.sampler.rows[7]![column]).toBeCloseTo(w(7) * 2, 6);
      expect(plan.sampler.rows[9]![column]).toBeCloseTo(w(9) * 2, 6);
    } else expect(forecasts).toEqual([]);

    const compiled = await compileSource('models/dit.ditto', { model: 'DiT', set: { depth: 2, hidden: 32, heads: 2, latent: 8, channels: 4, classes: 10, patch: 2 }, schedule: spec, steps: 12, batch: 2, cfgScale: 3, sampler: 'ddpm', caps: LAVAPIPE_CAPS });
    const weights = randomWeights(graphWeights(compiled.model.graph), 7);
    const weightsFile = path.join(dir, 'w.safetensors');
    writeSafetensors(weightsFile, weights);
    const latents = path.join(dir, 'latents.safetensors');
    const r = runDitto(['run', planFile, '--weights', weightsFile, '--device', 'cpu', '--seed', '3', '--class', '4,9', '--save-latents', latents]);
    expect(r.code, r.stderr).toBe(0);
    // Steps 5, 7, 9 of 12: warm-up 4, every other step, the last 2 computing both halves.
    expect(r.stdout).toMatch(/cfg_cache  3 steps ran the conditional half only/);
    const got = loadWeights(latents).tensors.get('latents')!;
    const want = sampleReference(compiled.model.graph, weights, compiled.schedule!, { sampler: 'ddpm', classes: [4, 9], seed: 3, cfgScale: 3 });
    expect(maxRelativeError(got.data, want.latents.data)).toBeLessThan(1e-4);
  }, 600_000);

  it('refuses to compile without classifier-free guidance, by name, and writes nothing', () => {
    const out = path.join(dir, 'never.json');
    const r = runDitto(['compile', 'models/dit.ditto', '--model', 'DiT', '--set', SET, '--schedule', SCHEDULE, '--steps', '12', '-o', out]);
    expect(looksLikeUserError(r), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/schedule 'fastercache': it takes the unconditional output from the conditional one \(`cfg_cache`, step 5\), but this run has no classifier-free guidance; give a CFG scale \(`--cfg`\)/);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
