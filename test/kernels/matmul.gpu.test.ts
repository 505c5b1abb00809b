/**
 * Matmul family on the GPU vs the JS reference: random small shapes with ragged M/N/K, random
 * views (offsets, row strides, batch), random epilogues and f16 weights, for every variant the
 * selector or `ditto tune` can pick on a software and on a hardware adapter (forced through the caps
 * argument, so lavapipe runs the hardware tiles too), including vec4 loads on aligned layouts and
 * f16 math.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gpuOrSkip } from '../helpers/gpu.ts';
import {
  capsFromReport, emitMatmul, matmulCandidates, selectMatmul, selectPatchEmbed, type AdapterCaps, type MatmulConfig, type MatmulProblem, type MatmulVariant,
} from '../../compiler/kernels/index.ts';
import { roundToF16, runKernel, shaderMessages, type HostArray } from '../../runtime/kernelRunner.ts';
import { matmulRef, patchEmbedRef, randomArray, rngFrom } from './reference.ts';

const gpu = await gpuOrSkip();
/** Each property run JITs new pipelines (seconds each on a loaded lavapipe): the budget is the runs, not the clock. */
const SLOW = { timeout: 900_000 };

const problemArb = fc.record({
  M: fc.integer({ min: 1, max: 40 }),
  N: fc.integer({ min: 1, max: 70 }),
  K: fc.integer({ min: 1, max: 40 }),
  batch: fc.integer({ min: 1, max: 2 }),
  aPad: fc.integer({ min: 0, max: 3 }),
  aOffset: fc.integer({ min: 0, max: 5 }),
  cPad: fc.integer({ min: 0, max: 3 }),
  cOffset: fc.integer({ min: 0, max: 5 }),
  /** Round K, offsets and strides to multiples of 4, so the tiled variant reads vec4s. */
  aligned: fc.boolean(),
  silu: fc.boolean(),
  bias: fc.boolean(),
  gelu: fc.boolean(),
  gated: fc.option(fc.record({ tokens: fc.integer({ min: 1, max: 5 }), inPlace: fc.boolean(), gatePad: fc.integer({ min: 0, max: 3 }), gateOffset: fc.integer({ min: 0, max: 4 }) })),
  f16: fc.boolean(),
  /** Which of the candidates to run (modulo their count). */
  pick: fc.nat(),
  seed: fc.integer(),
});

type Arb = typeof problemArb extends fc.Arbitrary<infer T> ? T : never;

function toProblem(r: Arb): MatmulProblem {
  const up = (x: number) => (r.aligned ? Math.ceil(x / 4) * 4 : x);
  const K = up(r.K);
  const aRow = up(K + r.aPad);
  const cRow = r.N + r.cPad;
  return {
    M: r.M, N: r.N, K, batch: r.batch,
    a: { kind: 'rows', offset: up(r.aOffset), rowStride: aRow, batchStride: r.M * aRow },
    wBatchStride: r.batch > 1 ? r.N * K : 0,
    cOffset: r.cOffset, cRowStride: cRow, cBatchStride: r.M * cRow,
    // The compiler stores a layer's bias like its weight (f16 under --f16).
    wDtype: r.f16 ? 'f16' : 'f32', biasDtype: r.f16 ? 'f16' : 'f32',
    siluInput: r.silu, bias: r.bias, gelu: r.gelu,
    gatedResidual: r.gated ? { tokens: r.gated.tokens, inPlace: r.gated.inPlace, gateOffset: r.gated.gateOffset, gateRowStride: r.N + r.gated.gatePad } : undefined,
  };
}

async function checkConfig(cfg: MatmulConfig, seed: number): Promise<void> {
  const kernel = emitMatmul(cfg);
  const rng = rngFrom(seed);
  const data: Record<string, HostArray> = {};
  for (const b of kernel.bindings) data[b.name] = randomArray(b.elements, rng);
  const w = data.w as Float32Array;
  const f16Math = cfg.variant.kind === 'tiled' && cfg.variant.math === 'f16';
  const expected = matmulRef(cfg, {
    a: data.a as Float32Array, w: cfg.wDtype === 'f16' ? roundToF16(w) : w,
    bias: data.bias && cfg.biasDtype === 'f16' ? roundToF16(data.bias as Float32Array) : (data.bias as Float32Array | undefined), gate: data.gate as Float32Array | undefined,
    residual: data.residual as Float32Array | undefined, c: data.c as Float32Array,
  }, f16Math);
  const out = await runKernel(gpu!, kernel, data);
  // f16 math: the f32 sums of f16 products differ from the reference's order of rounding by a few f16 ulps.
  expect(out.c).toAllClose(expected, f16Math ? { atol: 2e-3, rtol: 2e-3 } : { atol: 2e-5, rtol: 1e-4 });
}

/** Runs candidate `pick` of the problem on `caps` (the default when pick is 0) against the reference. */
async function checkCandidate(caps: AdapterCaps, r: Arb, kinds: MatmulVariant['kind'][], f16Math = false): Promise<void> {
  const problem = { ...toProblem(r), f16Math };
  const base = selectMatmul(problem, caps);
  const candidates = matmulCandidates(base, caps);
  expect(candidates[0]).toEqual(base.variant);
  const variant = candidates[r.pick % candidates.length]!;
  expect(kinds).toContain(variant.kind);
  await checkConfig(selectMatmul(problem, caps, variant), r.seed);
}

describe.skipIf(!gpu)('matmul on the GPU', () => {
  const real = gpu ? capsFromReport(gpu.report) : undefined;

  it.skipIf(!real?.hasSubgroups || !real.hasF16)('software (subgroup) variants match the reference on ragged shapes and random epilogues', SLOW, async () => {
    const caps: AdapterCaps = { ...real!, isSoftware: true };
    await fc.assert(fc.asyncProperty(problemArb, (r) => checkCandidate(caps, r, ['subgroup'])), { numRuns: 8 });
  });

  it.skipIf(!real?.hasF16)('hardware (tiled) variants match the reference on ragged shapes, aligned and not', SLOW, async () => {
    const caps: AdapterCaps = { ...real!, isSoftware: false };
    await fc.assert(fc.asyncProperty(problemArb, (r) => checkCandidate(caps, r, ['tiled'])), { numRuns: 8 });
  });

  it.skipIf(!real?.hasF16)('f16-math tiles (f16 tiles and products, f32 sums) match an f16-rounding reference', SLOW, async () => {
    const caps: AdapterCaps = { ...real!, isSoftware: false };
    await fc.assert(fc.asyncProperty(problemArb, (r) => checkCandidate(caps, r, ['tiled'], true)), { numRuns: 4 });
  });

  it('128×128 tiles with 8×8 per invocation, vec4 loads and double buffering handle edges in M, N and K', SLOW, async () => {
    const caps: AdapterCaps = { ...real!, isSoftware: false, hasF16: false };
    const problem: MatmulProblem = { M: 140, N: 133, K: 44, bias: true, gelu: true };
    const base = selectMatmul(problem, caps);
    const big = matmulCandidates(base, caps).find((v) => v.kind === 'tiled' && v.tileM === 128 && v.tileN === 128 && v.stages === 2);
    expect(big).toMatchObject({ threadM: 8, threadN: 8, vec4A: true, vec4W: true });
    await checkConfig(selectMatmul(problem, caps, big), 7);
  });

  it('patch_embed as a patches-layout matmul equals a direct strided convolution', SLOW, async () => {
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

  it('the subgroup-matrix variant is chosen where the adapter has a configuration; its WGSL fails here only for the missing feature', async () => {
    const configs = [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }];
    const caps: AdapterCaps = { ...real!, isSoftware: false, hasF16: true, subgroupMaxSize: 32, maxWorkgroupStorage: 32768, subgroupMatrixConfigs: configs };
    const cfg = selectMatmul({ M: 100, N: 90, K: 40, bias: true, gelu: true, f16Math: true }, caps);
    expect(cfg.variant).toMatchObject({ kind: 'subgroup_matrix', fragM: 16, fragN: 16, fragK: 16, component: 'f16', subgroupSize: 32 });
    // f32 math asks for an f32 configuration, which this adapter lacks: tiles instead.
    expect(selectMatmul({ M: 100, N: 90, K: 40 }, caps).variant.kind).toBe('tiled');
    const kernel = emitMatmul(cfg);
    if (real!.subgroupMatrixConfigs?.length) return; // a device with the feature runs it in the hardware properties above
    const errors = (await shaderMessages(gpu!, kernel)).filter((m) => m.type === 'error');
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e.message).toMatch(/subgroup_matrix|subgroup matrix|chromium_experimental/i);
  });
});
