/**
 * Forward plans on the GPU against the reference executor and the torch goldens: the tiny DiT
 * (test/golden/dit_tiny*) and the VAE-Tiny decoder (test/golden/vae_tiny*, rel 1e-4), the VAE
 * through `decodeLatents` (the path of `ditto run --vae`) with old diffusers attention names, and a
 * runner refusing bad inputs.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { compileForward } from '../../compiler/forward.ts';
import { compileCapsFor } from '../../compiler/plan/caps.ts';
import { forward } from '../../runtime/reference/forward.ts';
import { createForwardRunner } from '../../runtime/run/forwardRunner.ts';
import { decodeLatents } from '../../runtime/run/vaeDecode.ts';
import { prepareVae } from '../../drivers/vaeDecoder.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { goldenPath, readGoldenIo } from '../golden/goldenIo.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const gpu = await gpuOrSkip();

/** rel `rtol` of the golden's largest magnitude, elementwise. */
function close(actual: Tensor, expected: Tensor, rtol: number) {
  expect(actual.shape).toEqual(expected.shape);
  let scale = 0;
  for (const v of expected.data) scale = Math.max(scale, Math.abs(v));
  expect(actual.data).toAllClose(expected.data, { rtol, atol: rtol * scale });
}

/** Sample `b` of a batch, as a batch of one. */
function slice(t: Tensor, b: number): Tensor {
  const per = t.data.length / t.shape[0]!;
  return tensor([1, ...t.shape.slice(1)], Float32Array.from(t.data.subarray(b * per, (b + 1) * per)));
}

describe.skipIf(!gpu)('forward plans on the GPU', () => {
  const caps = gpu ? compileCapsFor(gpu.report) : undefined;

  it('tiny DiT: GPU forward ≡ reference forward ≡ torch golden', async () => {
    const graph = lowerModel(loadProgram(fileURLToPath(new URL('../../models/dit.ditto', import.meta.url))), { model: 'DiT-Tiny', batch: 2 });
    const weights = loadWeights(goldenPath('dit_tiny.safetensors')).tensors;
    const io = readGoldenIo();
    const inputs = { x: io.f32('fwd.x'), t: io.f32('fwd.t'), y: intTensor([2], Int32Array.from(io.f32('fwd.y').data)) };
    const runner = await createForwardRunner(compileForward(graph, { caps }).plan, weights, { gpu });
    try {
      const out = await runner.forward(inputs);
      expect(Object.keys(out)).toEqual(['out']);
      const ref = forward(graph, weights, inputs).out!;
      close(out.out!, ref, 1e-5);
      close(out.out!, io.f32('fwd.out'), 1e-5);
      // A second pass on other inputs overwrites the first completely.
      const other = { ...inputs, t: tensor([2], Float32Array.from(io.f32('fwd.t').data, (v) => v / 2)) };
      const second = await runner.forward(other);
      close(second.out!, forward(graph, weights, other).out!, 1e-5);
      expect(second.out!.data).not.toAllClose(out.out!.data, { atol: 1e-3, rtol: 0 });
    } finally {
      runner.destroy();
    }
  });

  it('VAE-Tiny: GPU decode ≡ reference ≡ torch golden (rel 1e-4)', async () => {
    // Batch 1, as `ditto run --vae` decodes: the three VAE tests share one set of pipelines (lavapipe
    // JIT-compiles each new one once, ~1 s apiece on a cold shader cache).
    const graph = lowerModel(loadProgram(fileURLToPath(new URL('../../models/vae.ditto', import.meta.url))), { model: 'VAE-Tiny', batch: 1 });
    const weights = loadWeights(goldenPath('vae_tiny.safetensors')).tensors;
    const io = readGoldenIo('vae_tiny_io.safetensors');
    const runner = await createForwardRunner(compileForward(graph, { caps }).plan, weights, { gpu });
    try {
      for (const b of [0, 1]) {
        const z = slice(io.f32('z'), b);
        const image = (await runner.forward({ z })).image!;
        close(image, forward(graph, weights, { z }).image!, 1e-4);
        close(image, slice(io.f32('image'), b), 1e-4);
      }
      // Bad input: a latent of the wrong channel count is named, nothing runs.
      await expect(runner.forward({ z: tensor([1, 3, 4, 4]) })).rejects.toThrow(/input 'z' is \[1, 3, 4, 4\], the plan expects \[1, 4, 4, 4\]/);
      await expect(runner.forward({ latents: slice(io.f32('z'), 0) })).rejects.toThrow(/unexpected input 'latents'[\s\S]*missing input 'z'/);
    } finally {
      runner.destroy();
    }
  });

  it('decodeLatents (ditto run --vae) reads old diffusers attention names and matches the golden', async () => {
    const ws = loadWeights(goldenPath('vae_tiny.safetensors'));
    const old = new Map([...ws.tensors].map(([n, t]) => [n.replace('.to_q.', '.query.').replace('.to_k.', '.key.').replace('.to_v.', '.value.').replace('.to_out.0.', '.proj_attn.'), t]));
    expect([...old.keys()].some((n) => n.includes('proj_attn'))).toBe(true);
    const io = readGoldenIo('vae_tiny_io.safetensors');
    const vae = prepareVae([2, 4, 4, 4], { ...ws, tensors: old }, caps!, 'VAE-Tiny');
    expect(vae.plan.model.batch).toBe(1); // one image at a time
    const { images } = await decodeLatents(io.f32('z'), vae, gpu!);
    close(images, io.f32('image'), 1e-4);
  });
});
