/**
 * mulberry32: the one seeded 32-bit generator of the project (random weights, the FID bootstrap,
 * test data, tool subsets). Small state, good enough statistics for these uses, and the same
 * stream on every machine. `state += 0x6D2B79F5`, then two xorshift-multiply rounds.
 */

/** A stream of unsigned 32-bit integers from `seed`. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform numbers in [0, 1) from `seed` (u32 / 2^32). */
export function uniformStream(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** Uniform numbers in (0, 1) from `seed` ((u32 + 0.5) / 2^32): never 0, safe under log. */
export function openUniformStream(seed: number): () => number {
  const next = mulberry32(seed);
  return () => (next() + 0.5) / 4294967296;
}
