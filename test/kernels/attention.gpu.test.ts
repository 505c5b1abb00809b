/**
 * Every attention variant on the GPU vs the JS reference (f64): random batch, heads, ragged T (not
 * a multiple of the key block, the lanes × queries tile or the K/V tile) and head dims — DiT's 64
 * and 72 plus small odd ones — with each variant forced through the caps argument, as the hardware
 * matmul is. Shapes stay small: lavapipe JIT-compiles every pipeline, and hd 64/72 kernels are
 * written out over the head.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gpuOrSkip } from '../helpers/gpu.ts';
import {
  MAX_REGISTER_HD, capsFromReport, emitAttention, selectAttention, type AdapterCaps, type AttentionVariant,
} from '../../compiler/kernels/index.ts';
import { roundToF16, runKernel } from '../../runtime/kernelRunner.ts';
import { attentionRef, randomArray, rngFrom } from './reference.ts';

const gpu = await gpuOrSkip();
// Budgeted by work (a few small pipelines per test), not by the clock: lavapipe's JIT of a written-out
// hd 64/72 kernel takes seconds on a quiet machine and minutes on a loaded one.
const SLOW = 60 * 60_000; // bounds a hang only: under a load average of 50 the workgroup property took 16 min

describe.skipIf(!gpu)('attention variants on the GPU', () => {
  const real = gpu ? capsFromReport(gpu.report) : undefined;
  const variants: [AttentionVariant['kind'], () => AdapterCaps, fc.Arbitrary<number>][] = [
    ['subgroup', () => ({ ...real!, isSoftware: true }), fc.oneof(fc.constantFrom(64, 72), fc.integer({ min: 1, max: 20 }))],
    ['workgroup', () => ({ ...real!, isSoftware: false }), fc.oneof(fc.constantFrom(64, 72), fc.integer({ min: 1, max: 20 }))],
    // The fallback runs only where a head does not fit the register variants.
    ['simple', () => ({ ...real!, isSoftware: false }), fc.integer({ min: MAX_REGISTER_HD + 1, max: MAX_REGISTER_HD + 10 })],
  ];

  async function check(B: number, T: number, heads: number, headDim: number, caps: AdapterCaps, kind: string, seed: number, f16 = false): Promise<void> {
    const cfg = selectAttention({ B, T, heads, headDim, qkvDtype: f16 ? 'f16' : 'f32' }, caps);
    expect(cfg.variant.kind).toBe(kind);
    const rng = rngFrom(seed);
    let qkv = randomArray(B * T * 3 * heads * headDim, rng, 2);
    if (f16) qkv = roundToF16(qkv);
    const out = await runKernel(gpu!, emitAttention(cfg), { qkv, out: new Float32Array(B * T * heads * headDim) });
    expect(out.out).toAllClose(attentionRef(qkv, B, T, heads, headDim), { atol: 2e-5, rtol: 1e-4 });
  }

  for (const [kind, caps, headDims] of variants) {
    it(`${kind} matches the reference (random B, heads, ragged T, head dims)`, async () => {
      // Wide heads with short sequences, narrow heads with long ones: the register variants write
      // out hd × queries per lane, and lavapipe's JIT time grows with that.
      const arb = headDims.chain((headDim) => fc.record({
        B: fc.integer({ min: 1, max: 2 }),
        T: fc.integer({ min: 1, max: headDim > 32 ? 12 : 45 }),
        heads: fc.integer({ min: 1, max: 3 }),
        headDim: fc.constant(headDim),
        seed: fc.integer(),
      }));
      await fc.assert(fc.asyncProperty(arb, ({ B, T, heads, headDim, seed }) => check(B, T, heads, headDim, caps(), kind, seed)), { numRuns: 3 });
    }, SLOW);
  }

  it('subgroup and workgroup at DiT-XL head dim 72: a ragged last key block (T 11), several K/V tiles (T 70)', async () => {
    await check(1, 11, 2, 72, { ...real!, isSoftware: true }, 'subgroup', 3);
    const hw = { ...real!, isSoftware: false };
    const cfg = selectAttention({ B: 1, T: 70, heads: 2, headDim: 72 }, hw);
    expect(cfg.variant.kind === 'workgroup' && 70 > 2 * cfg.variant.kTile).toBe(true);
    await check(1, 70, 2, 72, hw, 'workgroup', 4);
  }, SLOW);

  it.skipIf(!real?.hasF16)('f16 qkv storage (f32 arithmetic) in both register variants', async () => {
    await check(2, 13, 2, 64, { ...real!, isSoftware: true }, 'subgroup', 5, true);
    await check(1, 13, 2, 6, { ...real!, isSoftware: false }, 'workgroup', 6, true);
  }, SLOW);
});
