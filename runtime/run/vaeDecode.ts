/**
 * Latents → images through the VAE decoder of models/vae.ditto on the GPU (`ditto run --vae`):
 * image = decode(latent / 0.18215) — the division is the model's first op. The decoder is lowered
 * for one image of the latents' side (its `latent` parameter is set from them, so one `--vae-model`
 * serves every size), compiled in forward mode for the adapter, and run once per image: activation
 * memory is one image's whatever the batch (a 256 px image needs 160 MiB of activations).
 */
import { packagePath } from '../../core/packageRoot.ts';
import { DittoError } from '../../core/errors.ts';
import { numel, shapeString, tensor, type Tensor } from '../../core/tensor.ts';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { compileForward } from '../../compiler/forward.ts';
import { graphWeights, type Graph } from '../../compiler/ir/graph.ts';
import type { CompileCaps } from '../../compiler/plan/caps.ts';
import type { ForwardPlan } from '../../compiler/plan/types.ts';
import type { GpuContext } from '../device.ts';
import { validateWeights, type WeightSet } from '../weights/index.ts';
import { vaeDecoderWeights } from '../weights/vaeNames.ts';
import { createForwardRunner } from './forwardRunner.ts';

export const VAE_MODEL_FILE = packagePath('models', 'vae.ditto');
export const DEFAULT_VAE_MODEL = 'sd-vae-ft-ema';

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

/** The decoder graph for latents of `shape` [B, C, H, W], lowered for `batch`; a channel count the decoder does not take is E_USAGE. */
export function vaeGraphFor(shape: readonly number[], model = DEFAULT_VAE_MODEL, modelFile = VAE_MODEL_FILE, batch = shape[0] ?? 1): Graph {
  if (shape.length !== 4 || shape[2] !== shape[3]) {
    throw new DittoError('E_USAGE', `the VAE decodes square latents [B, C, H, H]; these are ${shapeString(shape)}`);
  }
  const [, C, H] = shape as [number, number, number];
  const graph = lowerModel(loadProgram(modelFile), { model, set: { latent: H }, batch });
  const z = graph.inputs[0];
  const zc = z ? graph.nodes[z.node]!.shape[1] : undefined;
  if (graph.inputs.length !== 1 || zc !== C) {
    throw new DittoError('E_USAGE', `VAE ${model} decodes ${zc ?? '?'}-channel latents, but the model's latents have ${C} channels ${shapeString(shape)}; --vae needs a latent model with the VAE's latent channels`);
  }
  return graph;
}

/**
 * Checks and compiles everything before sampling: the decoder takes latents of `shape`, the weight
 * file holds its tensors (diffusers names; old attention names and encoder tensors handled), and one
 * image's activations fit the adapter's binding limit — split over channel ranges where one tensor
 * alone does not (compiler/passes/tileImage.ts).
 */
export function prepareVae(shape: readonly number[], weights: WeightSet, caps: CompileCaps, model = DEFAULT_VAE_MODEL, modelFile = VAE_MODEL_FILE): PreparedVae {
  const graph = vaeGraphFor(shape, model, modelFile, 1);
  const decoderWeights = vaeDecoderWeights(weights);
  validateWeights(decoderWeights, graphWeights(graph));
  let plan: ForwardPlan;
  try {
    plan = compileForward(graph, { caps }).plan;
  } catch (e) {
    if (e instanceof DittoError && e.code === 'E_GPU') {
      const side = 8 * shape[2]!;
      throw new DittoError('E_GPU', `VAE ${model}: decoding one ${side}×${side} image needs a larger buffer than this adapter allows, even split over channels (${e.message}) — decode smaller images or use an adapter with a larger maxStorageBufferBindingSize`);
    }
    throw e;
  }
  return { graph, plan, weights: decoderWeights, model, shape: [...shape] };
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
