/**
 * The VAE decoder behind `ditto run --vae`, compiled from source: models/vae.ditto lowered for one
 * image of the latents' side (its `latent` parameter is set from them, so one `--vae-model` serves
 * every size), the weight file checked against it, and the forward plan compiled for the adapter —
 * all before sampling. The runtime only runs the result (runtime/run/vaeDecode.ts).
 */
import { packagePath } from '../core/packageRoot.ts';
import { DittoError } from '../core/errors.ts';
import { shapeString } from '../core/tensor.ts';
import { openModel } from '../compiler/compileSource.ts';
import { compileForward } from '../compiler/forward.ts';
import { graphWeights, type Graph } from '../compiler/ir/graph.ts';
import type { CompileCaps } from '../compiler/plan/caps.ts';
import type { ForwardPlan } from '../compiler/plan/types.ts';
import { validateWeights, type WeightSet } from '../runtime/weights/index.ts';
import { vaeDecoderWeights } from '../runtime/weights/vaeNames.ts';
import type { PreparedVae } from '../runtime/run/vaeDecode.ts';

export const VAE_MODEL_FILE = packagePath('models', 'vae.ditto');
export const DEFAULT_VAE_MODEL = 'sd-vae-ft-ema';

/** The decoder graph for latents of `shape` [B, C, H, W], lowered for `batch`; a channel count the decoder does not take is E_USAGE. */
export function vaeGraphFor(shape: readonly number[], model = DEFAULT_VAE_MODEL, modelFile = VAE_MODEL_FILE, batch = shape[0] ?? 1): Graph {
  if (shape.length !== 4 || shape[2] !== shape[3]) {
    throw new DittoError('E_USAGE', `the VAE decodes square latents [B, C, H, H]; these are ${shapeString(shape)}`);
  }
  const [, C, H] = shape as [number, number, number];
  const { graph } = openModel(modelFile, { model, set: { latent: H }, batch, cfg: false });
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

