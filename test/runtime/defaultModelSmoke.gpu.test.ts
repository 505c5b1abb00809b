/**
 * CI's smoke check of the embedded default model: a few DDPM steps of the trained DiT-FMNIST with
 * CFG, run by `ditto compile` + `ditto run` on the GPU from the noise PyTorch used, against the
 * golden PyTorch output (tools/golden/make_fmnist_smoke.py; regenerate it when the weights change).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { goldenPath } from '../golden/goldenIo.ts';
import { runDitto, ROOT } from '../cli/helpers.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('the embedded default model (smoke)', () => {
  it('samples what PyTorch samples from the same noise (8 DDPM steps, CFG 3, every class)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-smoke-'));
    const golden = loadWeights(goldenPath('fmnist_smoke.safetensors')).tensors;
    const steps = golden.get('noise')!.shape[0]!;
    const classes = Array.from(golden.get('classes')!.data);
    const plan = path.join(dir, 'plan.json');
    const c = runDitto(['compile', path.join(ROOT, 'models/fmnist.ditto'), '--model', 'DiT-FMNIST', '--steps', String(steps), '--cfg', '3', '--batch', String(classes.length), '-o', plan]);
    expect(c.code, c.stderr).toBe(0);
    const noise = path.join(dir, 'noise.safetensors');
    writeSafetensors(noise, new Map([['x_T', golden.get('x_T')!], ['noise', golden.get('noise')!]]));
    const out = path.join(dir, 'out.safetensors');
    const r = runDitto(['run', plan, '--weights', path.join(ROOT, 'models/weights/fmnist-dit.safetensors'), '--noise', noise, '--class', classes.join(','), '--save-latents', out]);
    expect(r.code, r.stderr).toBe(0);
    const got = loadWeights(out).tensors.get('latents')!;
    expect(got.shape).toEqual([classes.length, 1, 28, 28]);
    expect(got.data).toAllClose(golden.get('out')!.data, { rtol: 1e-4, atol: 1e-4 });
  });
});
