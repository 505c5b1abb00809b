/**
 * Loading a Stable Diffusion VAE file for the decoder of models/vae.ditto:
 *
 *  - diffusers' `diffusion_pytorch_model.safetensors` holds the whole AutoencoderKL; the encoder
 *    (`encoder.*`) and `quant_conv.*` are not the decoder's and are dropped, not reported;
 *  - files written by diffusers before its attention refactor (≈ v0.14) name the mid-block
 *    attention `query`, `key`, `value`, `proj_attn`; today's names are `to_q`, `to_k`, `to_v`,
 *    `to_out.0`. The old names are renamed (same Linear shapes). A projection stored as a 1×1
 *    convolution [C, C, 1, 1] (original LDM-style checkpoints) is reshaped to the Linear [C, C].
 *
 * Everything else is left as it is, so a wrong file still fails validation naming the tensor.
 */
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import type { WeightSet } from './types.ts';

/** Old diffusers attention names → current ones (the suffix after `attentions.<i>.`). */
export const VAE_ATTENTION_RENAMES: Readonly<Record<string, string>> = {
  query: 'to_q',
  key: 'to_k',
  value: 'to_v',
  proj_attn: 'to_out.0',
};

const OLD_ATTENTION = /^(.*\.attentions\.\d+\.)(query|key|value|proj_attn)\.(weight|bias)$/;
const NEW_PROJECTION = /\.attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$/;
const NOT_DECODER = /^(encoder\.|quant_conv\.)/;

/** The current name of a VAE tensor (old attention names renamed), or null for encoder tensors. */
export function vaeTensorName(name: string): string | null {
  if (NOT_DECODER.test(name)) return null;
  const m = OLD_ATTENTION.exec(name);
  return m ? `${m[1]}${VAE_ATTENTION_RENAMES[m[2]!]}.${m[3]}` : name;
}

/** The decoder's tensors of a VAE weight file, under current diffusers names. */
export function vaeDecoderWeights(ws: WeightSet): WeightSet {
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of ws.tensors) {
    const to = vaeTensorName(name);
    if (to === null) continue;
    if (tensors.has(to)) {
      throw new DittoError('E_WEIGHTS', `${ws.path}: tensor ${to} appears twice (under its current and its old diffusers name ${name})`);
    }
    const squeeze = NEW_PROJECTION.test(to) && t.shape.length === 4 && t.shape[2] === 1 && t.shape[3] === 1;
    tensors.set(to, squeeze ? { ...t, shape: t.shape.slice(0, 2) } : t);
  }
  return { ...ws, tensors };
}
