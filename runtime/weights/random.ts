/**
 * Seeded random weights for any model, for tests and demos without a checkpoint.
 *
 * Generator: each tensor has its own stream, so adding or removing a tensor never changes the
 * others. The stream is mulberry32 (32-bit state; `state += 0x6D2B79F5`, then two xorshift-multiply
 * rounds) seeded with `fnv1a32(name) XOR (seed · 0x9E3779B1)`; each value is
 * `(u32 + 0.5) / 2^32` mapped linearly onto [−a, a]. Values are uniform, with `a` chosen for the
 * standard deviation each kind of tensor should have:
 * - linear and conv weights (rank ≥ 2): Xavier-uniform, a = √(6 / (fan_in + fan_out)),
 *   fan_out = shape[0], fan_in = the product of the rest (DiT initialises its patch conv this way);
 * - adaLN modulation and the final layer: small but non-zero (std 0.02) — DiT's adaLN-Zero
 *   initialises them to zero, which would make every block an identity and hide bugs;
 * - embedding tables: std 0.02, like N(0, 0.02);
 * - biases (rank 1): std 0.02, non-zero so bias paths are exercised;
 * - normalisation scales (1-D `….weight` of a layer whose name contains `norm`, e.g. the VAE's
 *   GroupNorms): 1 + uniform noise of std 0.02, as trained norms sit near 1 (around 0 they would
 *   flatten every activation, and random-weight images would come out blank);
 * - `pos_embed` [1, g², D]: the exact fixed 2-D sin-cos embedding (posEmbed.ts), as checkpoints hold.
 */
import { DittoError } from '../../core/errors.ts';
import { numel, shapeString, type Tensor } from '../../core/tensor.ts';
import type { WeightRef } from '../../compiler/ir/graph.ts';
import { posEmbed2d } from './posEmbed.ts';
import { mulberry32 } from '../../core/random.ts';

function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Fills `out` with uniform values in (−a, a) from the mulberry32 stream seeded by `state`. */
function fillUniform(out: Float32Array, state: number, a: number): void {
  const next = mulberry32(state);
  const scale = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) out[i] = (next() + 0.5) * scale - a;
}

const SMALL_STD = 0.02;
const SQRT3 = Math.sqrt(3);

/** The half-width `a` of the uniform distribution for a tensor, by its name and shape. */
export function uniformHalfWidth(name: string, shape: readonly number[]): number {
  if (/adaLN_modulation|^final_layer\./.test(name)) return SMALL_STD * SQRT3;
  if (shape.length < 2) return SMALL_STD * SQRT3;
  if (/embedding/.test(name)) return SMALL_STD * SQRT3;
  const fanOut = shape[0]!;
  const fanIn = numel(shape.slice(1));
  return Math.sqrt(6 / (fanIn + fanOut));
}

/** A normalisation layer's scale vector (`decoder.mid_block.resnets.0.norm1.weight`, `…group_norm.weight`). */
export function isNormScale(name: string, shape: readonly number[]): boolean {
  return shape.length === 1 && /norm[^.]*\.weight$/i.test(name);
}

export function randomWeights(expected: readonly WeightRef[], seed: number): Map<string, Tensor> {
  if (!Number.isSafeInteger(seed)) throw new DittoError('E_USAGE', `the random-weight seed must be an integer, got ${seed}`);
  const out = new Map<string, Tensor>();
  const seedMix = Math.imul(seed | 0, 0x9e3779b1) ^ Math.floor(seed / 2 ** 32);
  for (const w of expected) {
    const shape = [...w.shape];
    const data = new Float32Array(numel(shape));
    if (/(^|\.)pos_embed$/.test(w.name)) {
      const grid = Math.round(Math.sqrt(shape[1] ?? 0));
      if (shape.length !== 3 || shape[0] !== 1 || grid * grid !== shape[1]) {
        throw new DittoError('E_WEIGHTS', `'${w.name}' has shape ${shapeString(shape)}; a 2-D sin-cos position embedding is [1, grid², dim]`);
      }
      data.set(posEmbed2d(shape[2]!, grid));
    } else {
      fillUniform(data, fnv1a32(w.name) ^ seedMix, uniformHalfWidth(w.name, shape));
      if (isNormScale(w.name, shape)) for (let i = 0; i < data.length; i++) data[i]! += 1;
    }
    out.set(w.name, { dtype: 'f32', shape, data });
  }
  return out;
}
