import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { intTensor } from '../../core/tensor.ts';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { readGoldenIo, goldenPath } from '../golden/goldenIo.ts';
import { looksLikeUserError, runDitto, TINY_DIT_SET } from './helpers.ts';

const TINY = ['--set', 'latent=8,patch=2,hidden=64,depth=2,heads=4,classes=10'];

describe('ditto forward (spawned)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ditto-forward-'));
  const io = readGoldenIo();
  const inputs = path.join(dir, 'in.safetensors');
  const y = io.f32('fwd.y');
  writeSafetensors(inputs, new Map([
    ['x', io.f32('fwd.x')],
    ['t', io.f32('fwd.t')],
    ['y', intTensor(y.shape, Int32Array.from(y.data))],
  ]));

  it('matches the PyTorch golden forward on the reference device, from safetensors and from .pt', () => {
    for (const weights of ['dit_tiny.safetensors', 'dit_tiny.pt']) {
      const out = path.join(dir, `out-${weights}.safetensors`);
      const r = runDitto(['forward', 'models/dit.ditto', ...TINY, '--weights', goldenPath(weights), '--inputs', inputs, '-o', out]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const got = loadWeights(out).tensors.get('out')!;
      expect(got.shape).toEqual([2, 8, 8, 8]);
      expect(got.data).toAllClose(io.f32('fwd.out').data, { atol: 1e-5, rtol: 1e-4 });
    }
  });

  it('accepts class ids stored as whole floats and refuses fractional ones', () => {
    const floats = path.join(dir, 'float-y.safetensors');
    writeSafetensors(floats, new Map([['x', io.f32('fwd.x')], ['t', io.f32('fwd.t')], ['y', io.f32('fwd.y')]]));
    const ok = runDitto(['forward', 'models/dit.ditto', ...TINY, '--weights', goldenPath('dit_tiny.safetensors'), '--inputs', floats, '-o', path.join(dir, 'o2.safetensors')]);
    expect(ok.code).toBe(0);
    const bad = path.join(dir, 'bad-y.safetensors');
    const yf = io.f32('fwd.y');
    writeSafetensors(bad, new Map([['x', io.f32('fwd.x')], ['t', io.f32('fwd.t')], ['y', { ...yf, data: Float32Array.from(yf.data, (v) => v + 0.5) }]]));
    const out = path.join(dir, 'o3.safetensors');
    const r = runDitto(['forward', 'models/dit.ditto', ...TINY, '--weights', goldenPath('dit_tiny.safetensors'), '--inputs', bad, '-o', out]);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain("input 'y'");
    expect(existsSync(out)).toBe(false);
  });

  it('names mismatched weights and writes no output', () => {
    const out = path.join(dir, 'o4.safetensors');
    const r = runDitto(['forward', 'models/dit.ditto', '--set', TINY_DIT_SET,
      '--weights', goldenPath('dit_tiny.safetensors'), '--inputs', inputs, '-o', out]);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/blocks\.0\.attn\.qkv\.weight.*\[96, 32\].*\[192, 64\]|blocks\.0\.attn\.qkv\.weight.*\[192, 64\].*\[96, 32\]/);
    expect(existsSync(out)).toBe(false);
  });

  it('rejects an unknown model name and an unknown --set key with the valid ones', () => {
    const a = runDitto(['forward', 'models/dit.ditto', '--model', 'DiT-M/2', '--weights', 'w', '--inputs', inputs, '-o', 'x']);
    expect(looksLikeUserError(a)).toBe(true);
    expect(a.stderr).toContain('DiT-S/2');
    const b = runDitto(['forward', 'models/dit.ditto', '--set', 'widht=3', '--weights', 'w', '--inputs', inputs, '-o', 'x']);
    expect(looksLikeUserError(b)).toBe(true);
    expect(b.stderr).toContain('hidden');
  });
});
