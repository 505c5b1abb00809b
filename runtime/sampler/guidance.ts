/**
 * From the model output to the sampler's (eps, v): classifier-free guidance as DiT does it, then
 * the EB-Cache exposure-bias multiplier on the eps channels.
 *
 * With CFG the model ran on [cond; uncond] (2B samples). DiT guides noise channels 0–2 only:
 * g = e_u + s·(e_c − e_u); channel 3 and the variance channels come from the cond half unguided.
 * `guide: 'all'` guides every eps channel (the standard formulation). Without CFG the output is
 * the B samples as they are. The eps multiplier m applies to every eps channel, after guidance,
 * never to the variance channels (docs/ebcache.md "Noise scaling", "Guidance"). Arithmetic is f32 per op.
 */
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import { scaleEps } from '../../compiler/ir/rules.ts';

const f = Math.fround;

export type GuideChannels = 'first3' | 'all';

export interface GuidanceOptions {
  /** Latent channels (eps channels); the output holds `channels` or `2·channels` channels. */
  channels: number;
  /** Guidance scale; undefined = no CFG (the output batch is the B samples). */
  cfgScale?: number;
  guide?: GuideChannels;
  /** Multiplier on the eps channels after guidance (1 = none). */
  epsScale?: number;
}

export interface EpsAndVariance {
  /** [B, channels, H, W] flattened. */
  eps: Float32Array;
  /** [B, channels, H, W] flattened, or undefined when the model has no variance channels. */
  v?: Float32Array;
}

/** Splits (and guides) a model output [N, outCh, H, W] into eps and v for the B = N or N/2 latents. */
export function epsFromModelOutput(out: Tensor, opts: GuidanceOptions): EpsAndVariance {
  const [N, outCh, H, W] = out.shape as [number, number, number, number];
  const C = opts.channels;
  if (outCh !== C && outCh !== 2 * C) {
    throw new DittoError('E_INPUT', `model output has ${outCh} channels; the sampler expects ${C} (eps) or ${2 * C} (eps and variance)`);
  }
  const cfg = opts.cfgScale !== undefined;
  if (cfg && N % 2 !== 0) throw new DittoError('E_INPUT', `classifier-free guidance needs an even batch [cond; uncond], got ${N}`);
  const B = cfg ? N / 2 : N;
  const plane = H * W;
  const src = out.data as Float32Array;
  const at = (b: number, c: number) => (b * outCh + c) * plane;
  const eps = new Float32Array(B * C * plane);
  const v = outCh === 2 * C ? new Float32Array(B * C * plane) : undefined;
  const guided = opts.guide === 'all' ? C : Math.min(3, C);
  const s = f(opts.cfgScale ?? 1);
  const m = f(opts.epsScale ?? 1);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      const dst = (b * C + c) * plane;
      const cond = at(b, c);
      const uncond = at(b + B, c);
      for (let p = 0; p < plane; p++) {
        let e = src[cond + p]!;
        if (cfg && c < guided) {
          const u = src[uncond + p]!;
          e = f(u + f(s * f(e - u)));
        }
        eps[dst + p] = scaleEps(e, m);
      }
      if (v) v.set(src.subarray(at(b, C + c), at(b, C + c) + plane), dst);
    }
  }
  return { eps, v };
}
