/**
 * The VAE's kernel families on the GPU vs plain JS (test/vae/naive.ts): conv2d (3×3 and 1×1, ragged
 * pixel/channel/K edges, folded upsampling, bias, residual from a buffer or in place, both tile
 * sizes), group_norm (+SiLU, NCHW or token output), upsample_nearest, and the pixel attention as the
 * plan compiler lowers it: group_norm to tokens → three matmuls writing q, k, v into one fused
 * buffer (cOffset / cRowStride: concat costs nothing) → attention (heads 1) → output projection.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gpuOrSkip } from '../helpers/gpu.ts';
import {
  capsFromReport, conv2dOutputSize, emitAttention, emitConv2d, emitGroupNorm, emitMatmul, emitUpsampleNearest, selectAttention,
  selectConv2d, selectGroupNorm, selectMatmul, selectUpsampleNearest, type AdapterCaps,
} from '../../compiler/kernels/index.ts';
import { runKernel } from '../../runtime/kernelRunner.ts';
import { randomArray, rngFrom } from '../kernels/reference.ts';
import { conv2dNaive, groupNormNaive, nchwToTokens } from './naive.ts';
import { attention, linear } from '../../runtime/reference/ops.ts';
import { tensor } from '../../core/tensor.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('VAE kernels on the GPU', () => {
  const real = gpu ? capsFromReport(gpu.report) : undefined;
  const sw = (): AdapterCaps => ({ ...real!, isSoftware: true });
  const hw = (): AdapterCaps => ({ ...real!, isSoftware: false });

  it('conv2d matches the formula on random ragged shapes (k 1 or 3, upsample, bias, residual)', async () => {
    const arb = fc.record({
      B: fc.integer({ min: 1, max: 2 }), Cin: fc.integer({ min: 1, max: 9 }), Cout: fc.integer({ min: 1, max: 37 }),
      H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 11 }), k: fc.constantFrom(1, 3),
      upsample: fc.constantFrom(1, 2), bias: fc.boolean(), residual: fc.constantFrom('none', 'buffer', 'inPlace') as fc.Arbitrary<'none' | 'buffer' | 'inPlace'>,
      hardware: fc.boolean(), seed: fc.integer(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ B, Cin, Cout, H, W, k, upsample, bias, residual, hardware, seed }) => {
        const rng = rngFrom(seed);
        const padding = (k - 1) / 2;
        const cfg = selectConv2d({ B, Cin, H, W, Cout, kernel: k, padding, upsample, bias, residual }, hardware ? hw() : sw());
        expect(cfg.variant.kind).toBe(hardware || !real!.hasSubgroups ? 'tiled' : 'subgroup');
        const [OH, OW] = conv2dOutputSize(cfg);
        const x = randomArray(B * Cin * H * W, rng, 2);
        const w = randomArray(Cout * Cin * k * k, rng);
        const b = randomArray(Cout, rng);
        const res = randomArray(B * Cout * OH * OW, rng);
        const data: Record<string, Float32Array> = { x, w, y: residual === 'inPlace' ? res.slice() : new Float32Array(res.length) };
        if (bias) data.bias = b;
        if (residual === 'buffer') data.residual = res;
        const out = await runKernel(gpu!, emitConv2d(cfg), data);
        const ref = conv2dNaive(x, [B, Cin, H, W], w, Cout, k, padding, { ...(bias ? { bias: b } : {}), ...(residual !== 'none' ? { residual: res } : {}), upsample });
        expect(out.y).toAllClose(ref, { atol: 1e-4, rtol: 1e-4 });
      }),
      { numRuns: 16 },
    );
  });

  it('conv2d with 64-wide tiles and several K steps (a VAE-like 3×3, 70 → 66 channels, 9×8 image)', async () => {
    const rng = rngFrom(5);
    const [B, Cin, H, W, Cout] = [1, 70, 9, 8, 66];
    const cfg = selectConv2d({ B, Cin, H, W, Cout, kernel: 3, padding: 1, bias: true }, hw());
    expect(cfg.variant).toMatchObject({ kind: 'tiled', tile: 64 });
    const x = randomArray(B * Cin * H * W, rng);
    const w = randomArray(Cout * Cin * 9, rng, 0.1);
    const b = randomArray(Cout, rng);
    const out = await runKernel(gpu!, emitConv2d(cfg), { x, w, bias: b, y: new Float32Array(B * Cout * H * W) });
    expect(out.y).toAllClose(conv2dNaive(x, [B, Cin, H, W], w, Cout, 3, 1, { bias: b }), { atol: 1e-4, rtol: 1e-4 });
  });

  it('group_norm (+SiLU, NCHW or tokens) matches the formula', async () => {
    const arb = fc.record({
      B: fc.integer({ min: 1, max: 2 }), G: fc.integer({ min: 1, max: 4 }), per: fc.integer({ min: 1, max: 5 }), S: fc.integer({ min: 1, max: 70 }),
      silu: fc.boolean(), tokens: fc.boolean(), hardware: fc.boolean(), seed: fc.integer(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ B, G, per, S, silu, tokens, hardware, seed }) => {
        const rng = rngFrom(seed);
        const C = G * per;
        const cfg = selectGroupNorm({ B, C, S, groups: G, eps: 1e-6, silu, out: tokens ? 'tokens' : 'nchw' }, hardware ? hw() : sw());
        const x = randomArray(B * C * S, rng, 3);
        const gamma = randomArray(C, rng, 2);
        const beta = randomArray(C, rng);
        const out = await runKernel(gpu!, emitGroupNorm(cfg), { x, weight: gamma, bias: beta, y: new Float32Array(x.length) });
        const ref = groupNormNaive(x, B, C, S, G, 1e-6, gamma, beta, silu);
        expect(out.y).toAllClose(tokens ? nchwToTokens(ref, B, C, S) : ref, { atol: 1e-4, rtol: 1e-4 });
      }),
      { numRuns: 10 },
    );
  });

  it('upsample_nearest matches the formula', async () => {
    for (const [planes, H, W, f] of [[3, 5, 7, 2], [1, 1, 1, 3], [2, 4, 3, 1]] as const) {
      const cfg = selectUpsampleNearest({ planes, H, W, factor: f }, sw());
      const x = randomArray(planes * H * W, rngFrom(H * 10 + W));
      const out = await runKernel(gpu!, emitUpsampleNearest(cfg), { x, y: new Float32Array(planes * H * W * f * f) });
      const ref = new Float32Array(out.y!.length);
      for (let p = 0; p < planes; p++)
        for (let y = 0; y < H * f; y++) for (let xx = 0; xx < W * f; xx++) ref[(p * H * f + y) * W * f + xx] = x[(p * H + Math.floor(y / f)) * W + Math.floor(xx / f)]!;
      expect(out.y).toEqual(ref);
    }
  });

  it('pixel attention: group_norm → tokens, q/k/v matmuls into one qkv buffer, attention heads 1, projection', async () => {
    const rng = rngFrom(9);
    const [B, C, S, G] = [2, 40, 21, 4]; // 40 channels = head dim 40; 21 pixels (ragged tiles)
    const x = randomArray(B * C * S, rng, 2);
    const gamma = randomArray(C, rng, 2), beta = randomArray(C, rng);
    const ws = [0, 1, 2, 3].map(() => randomArray(C * C, rng, 0.3));
    const bs = [0, 1, 2, 3].map(() => randomArray(C, rng, 0.1));
    const caps = sw();
    const gn = await runKernel(gpu!, emitGroupNorm(selectGroupNorm({ B, C, S, groups: G, eps: 1e-6, out: 'tokens' }, caps)), { x, weight: gamma, bias: beta, y: new Float32Array(x.length) });
    let qkv: Float32Array = new Float32Array(B * S * 3 * C);
    for (let j = 0; j < 3; j++) {
      const k = emitMatmul(selectMatmul({ M: B * S, N: C, K: C, bias: true, cOffset: j * C, cRowStride: 3 * C }, caps));
      qkv = (await runKernel(gpu!, k, { a: gn.y as Float32Array, w: ws[j]!, bias: bs[j]!, c: qkv })).c as Float32Array;
    }
    const att = await runKernel(gpu!, emitAttention(selectAttention({ B, T: S, heads: 1, headDim: C }, caps)), { qkv, out: new Float32Array(B * S * C) });
    const proj = await runKernel(gpu!, emitMatmul(selectMatmul({ M: B * S, N: C, K: C, bias: true }, caps)), { a: att.out as Float32Array, w: ws[3]!, bias: bs[3]!, c: new Float32Array(B * S * C) });
    // Reference: the same chain through the reference executor's ops.
    const t = tensor([B, S, C], nchwToTokens(groupNormNaive(x, B, C, S, G, 1e-6, gamma, beta), B, C, S));
    const lin = (a: typeof t, j: number) => linear(a, tensor([C, C], ws[j]!), tensor([C], bs[j]!));
    const q = lin(t, 0).data, kk = lin(t, 1).data, v = lin(t, 2).data;
    const fused = new Float32Array(B * S * 3 * C);
    for (let r = 0; r < B * S; r++) [q, kk, v].forEach((m, j) => fused.set(m.subarray(r * C, (r + 1) * C), r * 3 * C + j * C));
    expect(qkv).toAllClose(fused, { atol: 1e-4, rtol: 1e-4 });
    const ref = lin(attention(tensor([B, S, 3 * C], fused), 1), 3);
    expect(proj.c).toAllClose(ref.data, { atol: 1e-4, rtol: 1e-4 });
  });
});
