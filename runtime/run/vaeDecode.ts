/**
 * Latents → images through a compiled VAE decoder on the GPU (`ditto run --vae`): the decoder
 * (drivers/vaeDecoder.ts lowers models/vae.ditto and compiles it in forward mode) runs once per
 * image, so activation memory is one image's whatever the batch (a 256 px image needs 160 MiB of
 * activations). image = decode(latent / 0.18215) — the division is the model's first op.
 */
import { DittoError } from '../../core/errors.ts';
import { numel, shapeString, tensor, type Tensor } from '../../core/tensor.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import type { ForwardPlan } from '../../compiler/plan/types.ts';
import type { GpuContext } from '../device.ts';
import type { WeightSet } from '../weights/index.ts';
import { createForwardRunner } from './forwardRunner.ts';

/** A decoder checked against the latents it will decode and its weight file, compiled for the adapter. */
export interface PreparedVae {
  /** The decoder graph for one image (images are decoded one at a time: bounded activation memory). */
  graph: Graph;
  plan: ForwardPlan;
  /** The decoder's tensors under current diffusers names. */
  weights: WeightSet;
  model: string;
  /** The latents' shape [B, C, H, W]. */
  shape: number[];
}

export interface VaeDecodeResult {
  /** [B, 3, 8H, 8W], values around [-1, 1]. */
  images: Tensor;
  /** GPU time of the decode (first run: includes the adapter's pipeline JIT). */
  seconds: number;
}

/** Decodes `latents` (the shape `vae` was prepared for) on `gpu`, one image at a time. */
export async function decodeLatents(latents: Tensor, vae: PreparedVae, gpu: GpuContext): Promise<VaeDecodeResult> {
  if (latents.shape.join() !== vae.shape.join()) {
    throw new DittoError('E_INTERNAL', `the VAE was prepared for latents ${shapeString(vae.shape)}, got ${shapeString(latents.shape)}`);
  }
  const runner = await createForwardRunner(vae.plan, vae.weights.tensors, { gpu, weightsFile: vae.weights.path });
  try {
    const [B] = latents.shape as [number];
    const per = numel(latents.shape.slice(1));
    const input = vae.graph.inputs[0]!.name;
    const output = vae.graph.outputs[0]!.name;
    let images: Float32Array | undefined;
    let imageShape: readonly number[] = [];
    let seconds = 0;
    for (let b = 0; b < B; b++) {
      const z = tensor([1, ...latents.shape.slice(1)], Float32Array.from(latents.data.subarray(b * per, (b + 1) * per)));
      const out = await runner.run({ [input]: z });
      const img = out.outputs[output]!;
      imageShape = img.shape;
      images ??= new Float32Array(B * img.data.length);
      images.set(img.data, b * img.data.length);
      seconds += out.seconds;
    }
    return { images: tensor([B, ...imageShape.slice(1)], images!), seconds };
  } finally {
    runner.destroy();
  }
}
