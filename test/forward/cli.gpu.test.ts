/**
 * The spawned commands: `ditto forward --device gpu` against the torch golden and with bad inputs;
 * `ditto run --vae` decoding a tiny DiT's latents through VAE-Tiny into a PNG grid, and its errors.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { intTensor, tensor } from '../../core/tensor.ts';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { goldenPath, readGoldenIo } from '../golden/goldenIo.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const gpu = await gpuOrSkip();
const dir = mkdtempSync(path.join(tmpdir(), 'ditto-fwd-'));
const TINY = ['--model', 'DiT-Tiny'];

describe.skipIf(!gpu)('ditto forward --device gpu (spawned)', () => {
  const io = readGoldenIo();
  const inputs = path.join(dir, 'in.safetensors');
  const y = io.f32('fwd.y');
  writeSafetensors(inputs, new Map([['x', io.f32('fwd.x')], ['t', io.f32('fwd.t')], ['y', intTensor(y.shape, Int32Array.from(y.data))]]));

  it('matches the PyTorch golden forward', () => {
    const out = path.join(dir, 'out.safetensors');
    const r = runDitto(['forward', 'models/dit.ditto', ...TINY, '--weights', goldenPath('dit_tiny.safetensors'), '--inputs', inputs, '-o', out, '--device', 'gpu']);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('wrote out [2, 8, 8, 8]');
    const got = loadWeights(out).tensors.get('out')!;
    expect(got.data).toAllClose(io.f32('fwd.out').data, { atol: 1e-5, rtol: 1e-4 });
  });

  it('names a wrong input shape and a missing input, and writes nothing', () => {
    const bad = path.join(dir, 'bad.safetensors');
    writeSafetensors(bad, new Map([['x', tensor([2, 4, 6, 6])], ['t', io.f32('fwd.t')], ['y', intTensor([2], [1, 2])]]));
    const out = path.join(dir, 'bad-out.safetensors');
    const r = runDitto(['forward', 'models/dit.ditto', ...TINY, '--weights', goldenPath('dit_tiny.safetensors'), '--inputs', bad, '-o', out, '--device', 'gpu']);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/input 'x' is \[2, 4, 6, 6\].*\[2, 4, 8, 8\]/);
    const missing = path.join(dir, 'missing.safetensors');
    writeSafetensors(missing, new Map([['x', io.f32('fwd.x')], ['t', io.f32('fwd.t')]]));
    const r2 = runDitto(['forward', 'models/dit.ditto', ...TINY, '--weights', goldenPath('dit_tiny.safetensors'), '--inputs', missing, '-o', out, '--device', 'gpu']);
    expect(looksLikeUserError(r2)).toBe(true);
    expect(r2.stderr).toMatch(/missing input 'y'/);
    expect(existsSync(out)).toBe(false);
  });
});

describe.skipIf(!gpu)('ditto run --vae (spawned)', () => {
  // A DiT whose latent side (4) is VAE-Tiny's: 2 images of 32×32 pixels.
  const SMALL = [...TINY, '--set', 'latent=4'];
  const plan = path.join(dir, 'plan.json');
  const weights = path.join(dir, 'w.safetensors');
  const vae = goldenPath('vae_tiny.safetensors');

  beforeAll(() => {
    expect(runDitto(['compile', 'models/dit.ditto', ...SMALL, '--steps', '2', '--batch', '2', '-o', plan]).code).toBe(0);
    expect(runDitto(['weights', 'random', 'models/dit.ditto', ...SMALL, '--out', weights, '--seed', '2']).code).toBe(0);
  });

  it('decodes the final latents through the VAE on the GPU into a PNG grid', () => {
    const png = path.join(dir, 'grid.png');
    const latents = path.join(dir, 'latents.safetensors');
    const r = runDitto(['run', plan, '--weights', weights, '--vae', vae, '--vae-model', 'VAE-Tiny', '--out', png, '--save-latents', latents, '--seed', '1']);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const img = PNG.sync.read(readFileSync(png));
    // 2 images of 32×32 side by side, 2 px padding around each.
    expect([img.width, img.height]).toEqual([2 * 32 + 3 * 2, 32 + 2 * 2]);
    // The pixels are the decoded latents, not a blank page: several distinct values inside image 0.
    const values = new Set<number>();
    for (let yy = 2; yy < 34; yy++) for (let xx = 2; xx < 34; xx++) values.add(img.data[(yy * img.width + xx) * 4]!);
    expect(values.size).toBeGreaterThan(10);
    expect(loadWeights(latents).tensors.get('latents')!.shape).toEqual([2, 4, 4, 4]);
    expect(r.stdout).toMatch(/decoded    2 images with VAE-Tiny in \d+\.\d\d s/);
  });

  it('refuses a latent model without --vae (naming it), and a VAE whose latent channels differ', () => {
    const png = path.join(dir, 'no.png');
    const r = runDitto(['run', plan, '--weights', weights, '--out', png]);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/4-channel latents, not pictures: add --vae/);
    const plan2 = path.join(dir, 'plan2.json');
    const w2 = path.join(dir, 'w2.safetensors');
    const TWO = [...TINY, '--set', 'latent=4,channels=2'];
    expect(runDitto(['compile', 'models/dit.ditto', ...TWO, '--steps', '2', '-o', plan2]).code).toBe(0);
    expect(runDitto(['weights', 'random', 'models/dit.ditto', ...TWO, '--out', w2]).code).toBe(0);
    const r2 = runDitto(['run', plan2, '--weights', w2, '--vae', vae, '--vae-model', 'VAE-Tiny', '--out', png]);
    expect(looksLikeUserError(r2)).toBe(true);
    expect(r2.stderr).toMatch(/VAE-Tiny decodes 4-channel latents, but the model's latents have 2 channels/);
    // The default architecture (sd-vae-ft-ema) does not fit VAE-Tiny's file: every problem is named.
    const r3 = runDitto(['run', plan, '--weights', weights, '--vae', vae, '--out', png]);
    expect(looksLikeUserError(r3)).toBe(true);
    expect(r3.stderr).toMatch(/decoder\.conv_in\.weight.*\[512, 4, 3, 3\]/);
    expect(existsSync(png)).toBe(false);
  });
});
