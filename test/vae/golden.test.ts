/**
 * The reference forward of models/vae.ditto (variant VAE-Tiny: channels 16/16/8/4, 4 groups,
 * latent 4 → 32×32) against our torch decoder (tools/golden/make_vae_goldens.py), rel 1e-4.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { evaluate, forward } from '../../runtime/reference/forward.ts';
import type { Tensor } from '../../core/tensor.ts';
import { goldenPath, readGoldenIo } from '../golden/goldenIo.ts';

const VAE = fileURLToPath(new URL('../../models/vae.ditto', import.meta.url));
const io = readGoldenIo('vae_tiny_io.safetensors');
const weights = loadWeights(goldenPath('vae_tiny.safetensors')).tensors;

function close(actual: Tensor, expected: Tensor, rtol = 1e-4) {
  expect(actual.shape).toEqual(expected.shape);
  let scale = 0;
  for (const v of expected.data) scale = Math.max(scale, Math.abs(v));
  expect(actual.data).toAllClose(expected.data, { rtol, atol: rtol * scale });
}

describe('VAE decoder vs torch (VAE-Tiny, rel 1e-4)', () => {
  const program = loadProgram(VAE);

  it('the graph reads exactly the tensors of the torch state dict, with their shapes', () => {
    const g = lowerModel(program, { model: 'VAE-Tiny', batch: 2 });
    const refs = graphWeights(g);
    expect(refs.map((r) => r.name).sort()).toEqual([...weights.keys()].sort());
    for (const r of refs) expect(weights.get(r.name)!.shape, r.name).toEqual(r.shape);
  });

  it('decodes the golden latents to the golden images; the mid block matches too', () => {
    const g = lowerModel(program, { model: 'VAE-Tiny', batch: 2 });
    const z = io.f32('z');
    const out = forward(g, weights, { z });
    close(out.image!, io.f32('image'));
    // The mid block's output: the node that feeds up block 0 (up0[0]'s carried input).
    const up0 = g.blocks.find((b) => b.path === 'up0[0]')!;
    const ev = evaluate(g, weights, { z }, { demand: [up0.input] });
    close(ev.values.get(up0.input)!, io.f32('mid'));
  });

  it('the same model through `set` on the base model equals the variant', () => {
    const viaSet = lowerModel(program, { model: 'VAEDecoder', set: { ch: 4, groups: 4, latent: 4 }, batch: 2 });
    const out = forward(viaSet, weights, { z: io.f32('z') });
    close(out.image!, io.f32('image'));
  });
});
