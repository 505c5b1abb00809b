/**
 * `ditto run --device cpu`: a compiled plan runs on the CPU plan interpreter from the command line,
 * without a GPU, and computes what the reference executor defines; flags that need a GPU are
 * refused by name before anything runs.
 */
import { mkdtempSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSource } from '../../compiler/compileSource.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { isDittoError } from '../../core/errors.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { randomWeights } from '../../runtime/weights/random.ts';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { registerRun } from '../../cli/commands/run.ts';
import { looksLikeUserError, runDitto, runInProcess } from '../cli/helpers.ts';
import { maxRelativeError } from '../runtime/harness.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ditto-run-cpu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SET = { depth: 2, hidden: 32, heads: 2, latent: 8, channels: 4, classes: 10, patch: 2 };
const compiled = await compileSource('models/dit.ditto', { model: 'DiT', set: SET, schedule: 'taylorseer', steps: 12, batch: 2, cfgScale: 2, sampler: 'ddpm', caps: LAVAPIPE_CAPS });
const planFile = path.join(dir, 'plan.json');
writeFileSync(planFile, JSON.stringify(compiled.plan));
const weights = randomWeights(graphWeights(compiled.model.graph), 7);
const weightsFile = path.join(dir, 'w.safetensors');
writeSafetensors(weightsFile, weights);

async function refusal(args: string[]): Promise<string> {
  try {
    await runInProcess(registerRun, ['run', planFile, '--weights', weightsFile, '--device', 'cpu', ...args]);
  } catch (e) {
    if (isDittoError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error(`ditto run --device cpu ${args.join(' ')} was not refused`);
}

describe('ditto run --device cpu', () => {
  it('runs a Taylor plan with CFG on the CPU plan interpreter, equal to the reference executor', () => {
    const latents = path.join(dir, 'latents.safetensors');
    const r = runDitto(['run', planFile, '--weights', weightsFile, '--device', 'cpu', '--seed', '3', '--class', '4,9', '--save-latents', latents, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.adapter).toBe('CPU plan interpreter');
    expect(summary.classes).toEqual([4, 9]);
    expect(summary.plan.schedule).toBe('taylorseer');
    const got = loadWeights(latents).tensors.get('latents')!;
    const want = sampleReference(compiled.model.graph, weights, compiled.schedule!, { sampler: 'ddpm', classes: [4, 9], seed: 3, cfgScale: 2 });
    expect(got.shape).toEqual(want.latents.shape);
    expect(maxRelativeError(got.data, want.latents.data)).toBeLessThan(1e-4);
  }, 300_000);

  it('refuses the flags that need a GPU, by name, and writes nothing', async () => {
    const out = path.join(dir, 'never.safetensors');
    expect(await refusal(['--profile', '--save-latents', out])).toMatch(/^E_USAGE: --device cpu cannot be combined with --profile: .*times GPU kernels/);
    expect(await refusal(['--check-finite'])).toMatch(/--check-finite/);
    expect(await refusal(['--baseline', planFile])).toMatch(/--baseline: .*semantics, not speed/);
    expect(await refusal(['--tuning-cache', planFile])).toMatch(/--tuning-cache/);
    expect(await refusal(['--backend', 'vulkan', '--profile'])).toMatch(/with --profile, --backend/);
    expect(existsSync(out)).toBe(false);
  });

  it('rejects an unknown device with a usage error', () => {
    const r = runDitto(['run', planFile, '--weights', weightsFile, '--device', 'tpu']);
    expect(looksLikeUserError(r), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/tpu/);
    expect(r.stderr).toMatch(/gpu, cpu|"gpu", "cpu"|choices/i);
  }, 120_000);
});
