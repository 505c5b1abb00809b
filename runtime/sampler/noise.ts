/**
 * The seeded Gaussian generator of ditto. Counter-based, so any element can be drawn without
 * drawing the ones before it, and the GPU runtime uploads exactly these arrays (bit identity by
 * construction).
 *
 * Definition (docs/reference-executor.md):
 *  - Philox4x32-10 (Salmon et al., SC'11), key = (seed mod 2³², ⌊seed / 2³²⌋), counter
 *    = (pair index, 0, stream, 0). Stream 0 is the initial latent, stream k + 1 the noise of
 *    sampling step k.
 *  - One Philox block (x0, x1, x2, x3) gives one pair of normals by Box–Muller in float64:
 *    u1 = (⌊x0 / 2⁵⌋·2²⁶ + ⌊x1 / 2⁶⌋ + 0.5) / 2⁵³ ∈ (0, 1), u2 likewise from (x2, x3),
 *    r = sqrt(−2 ln u1), z_even = r·cos(2π u2), z_odd = r·sin(2π u2), each rounded to f32.
 *  - Element j of a stream (row-major flat index over [B, C, H, W]) is z_even of pair ⌊j/2⌋ when
 *    j is even, z_odd when odd. A sample's noise therefore does not depend on the batch size.
 */
import { DittoError } from '../../core/errors.ts';
import { tensor, type Tensor } from '../../core/tensor.ts';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/**
 * High 32 bits of the 64-bit product of two uint32, from 16-bit halves: every partial product is
 * below 2³², so the arithmetic is exact and stays in V8's integer fast paths.
 */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** Philox4x32 with 10 rounds. Returns four uint32. */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  const out = new Uint32Array(4);
  philoxInto(counter[0] >>> 0, counter[1] >>> 0, counter[2] >>> 0, counter[3] >>> 0, roundKeys(key[0] >>> 0, key[1] >>> 0), out);
  return [out[0]!, out[1]!, out[2]!, out[3]!];
}

/** The ten round keys of a key: the key schedule is shared by every counter of a stream. */
function roundKeys(k0: number, k1: number): Uint32Array {
  const keys = new Uint32Array(20);
  for (let r = 0; r < 10; r++) {
    keys[2 * r] = k0;
    keys[2 * r + 1] = k1;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return keys;
}

/** The ten rounds on one counter, written to `out` (no allocation: the noise of a run is millions of blocks). */
function philoxInto(c0: number, c1: number, c2: number, c3: number, keys: Uint32Array, out: Uint32Array): void {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ keys[2 * r]!) >>> 0;
    const n2 = (hi0 ^ c3 ^ keys[2 * r + 1]!) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

const TWO53 = 2 ** 53;

function uniform53(a: number, b: number): number {
  return ((a >>> 5) * 67108864 + (b >>> 6) + 0.5) / TWO53;
}

function checkSeed(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new DittoError('E_INPUT', `seed must be a non-negative integer below 2^53, got ${seed}`);
  }
  return [seed % 4294967296, Math.floor(seed / 4294967296)];
}

/** `n` standard normals (f32) of stream `stream` under `seed`. */
export function gaussianStream(seed: number, stream: number, n: number): Float32Array {
  const [key0, key1] = checkSeed(seed);
  const keys = roundKeys(key0 >>> 0, key1 >>> 0);
  const words = new Uint32Array(4);
  const out = new Float32Array(n);
  for (let p = 0; 2 * p < n; p++) {
    philoxInto(p >>> 0, 0, stream >>> 0, 0, keys, words);
    const r = Math.sqrt(-2 * Math.log(uniform53(words[0]!, words[1]!)));
    const theta = 2 * Math.PI * uniform53(words[2]!, words[3]!);
    out[2 * p] = r * Math.cos(theta);
    if (2 * p + 1 < n) out[2 * p + 1] = r * Math.sin(theta);
  }
  return out;
}

export interface RunNoise {
  /** The initial latent x_T, [batch, ...shape]. */
  initial: Tensor;
  /** steps entries: the noise z of sampling step k (k = 0 first), [batch, ...shape]. */
  steps: Tensor[];
}

/** The initial latent and per-step noise of one sampling run, fully determined by the seed. */
export function noiseForRun(seed: number, batch: number, shape: readonly number[], steps: number): RunNoise {
  const full = [batch, ...shape];
  const n = full.reduce((a, b) => a * b, 1);
  return {
    initial: tensor(full, gaussianStream(seed, 0, n)),
    steps: Array.from({ length: steps }, (_, k) => tensor(full, gaussianStream(seed, k + 1, n))),
  };
}
