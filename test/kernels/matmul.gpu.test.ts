/**
 * Matmul family on the GPU vs the JS reference: random small shapes with ragged M/N/K, random
 * views (offsets, row strides, batch), random epilogues and f16 weights, for both variants.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { capsFromReport, emitMatmul, selectMatmul, selectPatchEmbed, type AdapterCaps, type MatmulProblem } from '../../compiler/kernels/index.ts';
import { roundToF16, runKernel, type HostArray } from '../../runtime/kernelRunner.ts';
import { matmulRef, patchEmbedRef, randomArray, rngFrom } from './reference.ts';

const gpu = await gpuOrSkip();

const problemArb = fc.record({
  M: fc.integer({ min: 1, max: 20 }),
  N: fc.integer({ min: 1, max: 70 }),
  K: fc.integer({ min: 1, max: 40 }),
  batch: fc.integer({ min: 1, max: 2 }),
  aPad: fc.integer({ min: 0, max: 3 }),
  aOffset: fc.integer({ min: 0, max: 5 }),
  cPad: fc.integer({ min: 0, max: 3 }),
  cOffset: fc.integer({ min: 0, max: 5 }),
  silu: fc.boolean(),
  bias: fc.boolean(),
  gelu: fc.boolean(),
  gated: fc.option(fc.record({ tokens: fc.integer({ min: 1, max: 5 }), inPlace: fc.boolean(), gatePad: fc.integer({ min: 0, max: 3 }), gateOffset: fc.integer({ min: 0, max: 4 }) })),
  f16: fc.boolean(),
  seed: fc.integer(),
});

type Arb = typeof problemArb extends fc.Arbitrary<infer T> ? T : never;

function toProblem(r: Arb): MatmulProblem {
  const aRow = r.K + r.aPad;
  const cRow = r.N + r.cPad;
  return {
    M: r.M, N: r.N, K: r.K, batch: r.batch,
    a: { kind: 'rows', offset: r.aOffset, rowStride: aRow, batchStride: r.M * aRow },
    wBatchStride: r.batch > 1 ? r.N * r.K : 0,
    cOffset: r.cOffset, cRowStride: cRow, cBatchStride: r.M * cRow,
    wDtype: r.f16 ? 'f16' : 'f32',
    siluInput: r.silu, bias: r.bias, gelu: r.gelu,
    gatedResidual: r.gated ? { tokens: r.gated.tokens, inPlace: r.gated.inPlace, gateOffset: r.gated.gateOffset, gateRowStride: r.N + r.gated.gatePad } : undefined,
  };
}

async function checkAgainstReference(caps: AdapterCaps, r: Arb, expectKind: string): Promise<void> {
  const cfg = selectMatmul(toProblem(r), caps);
  expect(cfg.variant.kind).toBe(expectKind);
  const kernel = emitMatmul(cfg);
  const rng = rngFrom(r.seed);
  const data: Record<string, HostArray> = {};
  for (const b of kernel.bindings) data[b.name] = randomArray(b.elements, rng);
  const w = data.w as Float32Array;
  const expected = matmulRef(cfg, {
    a: data.a as Float32Array, w: cfg.wDtype === 'f16' ? roundToF16(w) : w,
    bias: data.bias as Float32Array | undefined, gate: data.gate as Float32Array | undefined,
    residual: data.residual as Float32Array | undefined, c: data.c as Float32Array,
  });
  const out = await runKernel(gpu!, kernel, data);
  expect(out.c).toAllClose(expected, { atol: 2e-5, rtol: 1e-4 });
}

describe.skipIf(!gpu)('matmul on the GPU', () => {
  const real = gpu ? capsFromReport(gpu.report) : undefined;

  it.skipIf(!real?.hasSubgroups || !real.hasF16)('software (subgroup) variant matches the reference on ragged shapes and random epilogues', async () => {
    const caps: AdapterCaps = { ...real!, isSoftware: true };
    await fc.assert(fc.asyncProperty(problemArb, (r) => checkAgainstReference(caps, r, 'subgroup')), { numRuns: 6 });
  });

  it.skipIf(!real?.hasF16)('hardware (tiled) variant matches the reference on ragged shapes and random epilogues', async () => {
    const caps: AdapterCaps = { ...real!, isSoftware: false };
    await fc.assert(fc.asyncProperty(problemArb, (r) => checkAgainstReference(caps, r, 'tiled')), { numRuns: 6 });
  });

  it('64×64 tiles handle M, N, K that are not multiples of the tile', async () => {
    const caps: AdapterCaps = { ...real!, isSoftware: false, hasF16: false };
    const r: Arb = { M: 70, N: 67, K: 35, batch: 1, aPad: 1, aOffset: 2, cPad: 0, cOffset: 0, silu: false, bias: true, gelu: true, gated: null, f16: false, seed: 7 };
    expect(selectMatmul(toProblem(r), caps).variant).toEqual({ kind: 'tiled', tile: 64, tileK: 16 });
    await checkAgainstReference(caps, r, 'tiled');
  });

  it('patch_embed as a patches-layout matmul equals a direct strided convolution', async () => {
    const rng = rngFrom(3);
    const [B, C, S, p, dim] = [2, 3, 6, 2, 10];
    const x = randomArray(B * C * S * S, rng);
    const w = randomArray(dim * C * p * p, rng);
    const bias = randomArray(dim, rng);
    for (const isSoftware of [true, false]) {
      const cfg = selectPatchEmbed({ B, channels: C, size: S, patch: p, dim }, { ...real!, isSoftware });
      const out = await runKernel(gpu!, emitMatmul(cfg), { a: x, w, bias, c: new Float32Array(B * (S / p) ** 2 * dim) });
      expect(out.c).toAllClose(patchEmbedRef(x, B, C, S, p, w, bias, dim), { atol: 2e-5, rtol: 1e-4 });
    }
  });
});
