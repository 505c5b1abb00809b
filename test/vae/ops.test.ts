/**
 * The image ops without a GPU: shape inference and its errors (builder and language), the
 * reference executor's ops against the naive formulas (fast-check), and the kernel selectors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GraphBuilder, ShapeError } from '../../compiler/ir/builder.ts';
import { tensor } from '../../core/tensor.ts';
import { concat, conv2d, groupNorm, toImage, toTokens, upsampleNearest } from '../../runtime/reference/imageOps.ts';
import { diagnose } from '../language/helpers.ts';
import {
  DEFAULT_CAPS, LAVAPIPE_CAPS, conv2dKey, emitConv2d, emitGroupNorm, selectConv2d, selectGroupNorm, selectUpsampleNearest,
} from '../../compiler/kernels/index.ts';
import { randomArray, rngFrom } from '../kernels/reference.ts';
import { conv2dNaive, groupNormNaive, nchwToTokens } from './naive.ts';

describe('shape inference of the image ops', () => {
  const g = () => new GraphBuilder('t', {}, 2);

  it('conv2d, group_norm, upsample, to_tokens, to_image, concat give the documented shapes and weights', () => {
    const b = g();
    const x = b.input('x', 'f32', [2, 4, 5, 6]);
    const c = b.op({ kind: 'conv2d', inChannels: 4, outChannels: 8, kernel: 3, padding: 1, bias: true }, [x], { weights: 'p.conv' });
    expect(b.node(c).shape).toEqual([2, 8, 5, 6]);
    expect(b.node(c).weights).toEqual([{ name: 'p.conv.weight', shape: [8, 4, 3, 3] }, { name: 'p.conv.bias', shape: [8] }]);
    const v = b.op({ kind: 'conv2d', inChannels: 4, outChannels: 2, kernel: 3, padding: 0, bias: false }, [x], { weights: 'v' });
    expect(b.node(v).shape).toEqual([2, 2, 3, 4]);
    const n = b.op({ kind: 'group_norm', groups: 4, eps: 1e-6 }, [c], { weights: 'p.norm' });
    expect(b.node(n).weights.map((w) => [w.name, w.shape])).toEqual([['p.norm.weight', [8]], ['p.norm.bias', [8]]]);
    const u = b.op({ kind: 'upsample_nearest', factor: 2 }, [n]);
    expect(b.node(u).shape).toEqual([2, 8, 10, 12]);
    const t = b.op({ kind: 'to_tokens' }, [u]);
    expect(b.node(t).shape).toEqual([2, 120, 8]);
    const q = b.op({ kind: 'concat' }, [t, t, t]);
    expect(b.node(q).shape).toEqual([2, 120, 24]);
    expect(b.node(b.op({ kind: 'to_image', height: 10, width: 12 }, [t])).shape).toEqual([2, 8, 10, 12]);
  });

  it('rejects mismatched shapes with a ShapeError naming both', () => {
    const b = g();
    const x = b.input('x', 'f32', [2, 4, 5, 6]);
    const tok = b.input('t', 'f32', [2, 7, 3]);
    expect(() => b.op({ kind: 'conv2d', inChannels: 3, outChannels: 8, kernel: 3, padding: 1, bias: true }, [x], { weights: 'c' })).toThrow(/expects 3 input channels, got \[2, ?4, ?5, ?6\]/);
    expect(() => b.op({ kind: 'conv2d', inChannels: 4, outChannels: 8, kernel: 9, padding: 0, bias: true }, [x], { weights: 'c' })).toThrow(ShapeError);
    expect(() => b.op({ kind: 'group_norm', groups: 3, eps: 1e-6 }, [x], { weights: 'n' })).toThrow(/4 channels .* not divisible into 3 groups/);
    expect(() => b.op({ kind: 'to_image', height: 2, width: 3 }, [tok])).toThrow(/7 tokens is not a 2×3 image/);
    expect(() => b.op({ kind: 'concat' }, [tok, x])).toThrow(/concat/);
    expect(() => b.op({ kind: 'group_norm', groups: 2, eps: 1e-6 }, [x])).toThrow(/weight name/);
  });
});

describe('the image operators in the language', () => {
  const model = (body: string) => `model M(c = 8) {\n  input x: f32[B, 4, 6, 6]\n${body}\n}\n`;

  it('lowers a small decoder-like model without diagnostics', () => {
    const src = model(`  h = conv2d(x, out: c) @ "conv_in"
  n = silu(group_norm(h, groups: 4) @ "norm")
  t = to_tokens(n)
  a = attention(concat(concat(linear(t, out: c) @ "q", linear(t, out: c) @ "k"), linear(t, out: c) @ "v"), heads: 1)
  output out = conv2d(upsample_nearest(h + to_image(a, height: 6)), out: 3, kernel: 1) @ "conv_out"`);
    expect(diagnose(src).filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('reports shape errors and an even kernel without padding at the call', () => {
    const groups = diagnose(model(`  output out = group_norm(x, groups: 3) @ "n"`));
    expect(groups.some((d) => /not divisible into 3 groups/.test(d.message))).toBe(true);
    const even = diagnose(model(`  output out = conv2d(x, out: 2, kernel: 2) @ "c"`));
    expect(even.some((d) => /even kernel \(2\) has no "same" padding/.test(d.message))).toBe(true);
    const noWeights = diagnose(model(`  output out = conv2d(x, out: 2)`));
    expect(noWeights.some((d) => /reads weights/.test(d.message))).toBe(true);
    const image = diagnose(model(`  output out = to_image(to_tokens(x), height: 5)`));
    expect(image.some((d) => /cannot infer `width`/.test(d.message))).toBe(true);
  });
});

describe('reference image ops vs the formulas', () => {
  it('conv2d (any k, padding, bias) equals the naive sum', () => {
    fc.assert(
      fc.property(
        fc.record({ B: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 4 }), O: fc.integer({ min: 1, max: 5 }), H: fc.integer({ min: 1, max: 7 }),
          W: fc.integer({ min: 1, max: 7 }), k: fc.integer({ min: 1, max: 3 }), pad: fc.integer({ min: 0, max: 2 }), bias: fc.boolean(), seed: fc.integer() }),
        ({ B, C, O, H, W, k, pad, bias, seed }) => {
          fc.pre(H + 2 * pad >= k && W + 2 * pad >= k);
          const rng = rngFrom(seed);
          const x = randomArray(B * C * H * W, rng), w = randomArray(O * C * k * k, rng), b = randomArray(O, rng);
          const got = conv2d(tensor([B, C, H, W], x), tensor([O, C, k, k], w), bias ? tensor([O], b) : undefined, pad);
          expect(got.shape).toEqual([B, O, H + 2 * pad - k + 1, W + 2 * pad - k + 1]);
          expect(got.data).toAllClose(conv2dNaive(x, [B, C, H, W], w, O, k, pad, bias ? { bias: b } : {}), { atol: 1e-5, rtol: 1e-5 });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('group_norm equals the formula, and with γ = 1, β = 0 each group comes out with zero mean and unit variance', () => {
    const rng = rngFrom(3);
    const [B, C, S, G] = [2, 6, 10, 3];
    const x = randomArray(B * C * S, rng, 4);
    const gamma = randomArray(C, rng), beta = randomArray(C, rng);
    expect(groupNorm(tensor([B, C, 2, 5], x), tensor([C], gamma), tensor([C], beta), G, 1e-6).data).toAllClose(groupNormNaive(x, B, C, S, G, 1e-6, gamma, beta), { atol: 1e-5, rtol: 1e-5 });
    const unit = groupNorm(tensor([B, C, S], x), tensor([C], new Float32Array(C).fill(1)), tensor([C], new Float32Array(C)), G, 1e-6).data;
    const grp = Array.from(unit.subarray(0, (C / G) * S));
    const mean = grp.reduce((a, v) => a + v, 0) / grp.length;
    expect(Math.abs(mean)).toBeLessThan(1e-6);
    expect(grp.reduce((a, v) => a + v * v, 0) / grp.length).toBeCloseTo(1, 4);
  });

  it('to_image inverts to_tokens; concat splits back into its parts; upsample repeats pixels', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), (B, C, H, W) => {
        const x = tensor([B, C, H, W], randomArray(B * C * H * W, rngFrom(B * 1000 + C * 100 + H * 10 + W)));
        const t = toTokens(x);
        expect(t.data).toEqual(nchwToTokens(x.data as Float32Array, B, C, H * W));
        expect(toImage(t, H, W).data).toEqual(x.data);
        const cat = concat([t, toTokens(upsampleNearest(x, 1))]);
        expect(cat.shape).toEqual([B, H * W, 2 * C]);
        expect(cat.data.filter((_, i) => i % (2 * C) < C)).toEqual(t.data);
        const up = upsampleNearest(x, 2);
        expect(up.data[((0 * C + 0) * 2 * H + 2 * (H - 1) + 1) * 2 * W + 2 * (W - 1) + 1]).toBe(x.data[(H - 1) * W + W - 1]);
      }),
      { numRuns: 20 },
    );
  });
});

describe('kernel selectors (no GPU)', () => {
  it('conv2d: subgroup variant on software adapters, tile 64 only on hardware with big problems, K tile shrinks to fit workgroup memory, keys are canonical', () => {
    const big = { B: 1, Cin: 512, H: 32, W: 32, Cout: 512, kernel: 3, padding: 1, bias: true };
    expect(selectConv2d(big, DEFAULT_CAPS).variant).toEqual({ kind: 'tiled', tile: 64, tileK: 16 });
    expect(selectConv2d(big, LAVAPIPE_CAPS).variant).toEqual({ kind: 'subgroup', rows: 8, lanes: 16 });
    expect(selectConv2d({ ...big, Cout: 3 }, LAVAPIPE_CAPS).variant).toEqual({ kind: 'subgroup', rows: 8, lanes: 8 });
    expect(selectConv2d({ ...big, Cout: 3 }, DEFAULT_CAPS).variant).toEqual({ kind: 'tiled', tile: 32, tileK: 16 });
    expect(selectConv2d(big, { ...DEFAULT_CAPS, maxWorkgroupStorage: 4096 }).variant).toEqual({ kind: 'tiled', tile: 64, tileK: 8 });
    expect(conv2dKey(selectConv2d(big, DEFAULT_CAPS))).toBe(conv2dKey(selectConv2d({ ...big }, DEFAULT_CAPS)));
    expect(emitConv2d(selectConv2d(big, DEFAULT_CAPS)).wgsl).toBe(emitConv2d(selectConv2d(big, DEFAULT_CAPS)).wgsl);
    expect(conv2dKey(selectConv2d({ ...big, upsample: 2 }, DEFAULT_CAPS))).not.toBe(conv2dKey(selectConv2d(big, DEFAULT_CAPS)));
  });

  it('errors: f16 without shader-f16 and oversize bindings are E_GPU naming the tensor; bad problems E_INTERNAL', () => {
    const p = { B: 1, Cin: 4, H: 4, W: 4, Cout: 4, kernel: 3, padding: 1 };
    expect(() => selectConv2d({ ...p, wDtype: 'f16' }, DEFAULT_CAPS)).toThrow(expect.objectContaining({ code: 'E_GPU' }));
    expect(() => selectConv2d({ ...p, B: 64, Cin: 512, H: 128, W: 128 }, DEFAULT_CAPS)).toThrow(/tensor 'x' needs/);
    expect(() => selectConv2d({ ...p, kernel: 9, padding: 0 }, DEFAULT_CAPS)).toThrow(expect.objectContaining({ code: 'E_INTERNAL' }));
    expect(() => selectGroupNorm({ B: 1, C: 6, S: 4, groups: 4, eps: 1e-6 }, DEFAULT_CAPS)).toThrow(/not divisible/);
    expect(() => selectUpsampleNearest({ planes: 1, H: 0, W: 1, factor: 2 }, DEFAULT_CAPS)).toThrow(expect.objectContaining({ code: 'E_INTERNAL' }));
  });

  it('group_norm: threads fit the adapter and never exceed a small group by much; the token layout changes the store', () => {
    const c = selectGroupNorm({ B: 1, C: 512, S: 1024, groups: 32, eps: 1e-6, silu: true }, { ...DEFAULT_CAPS, maxInvocations: 128 });
    expect(c.threads).toBe(128);
    expect(selectGroupNorm({ B: 1, C: 4, S: 3, groups: 4, eps: 1e-6 }, DEFAULT_CAPS).threads).toBe(32);
    const tok = emitGroupNorm(selectGroupNorm({ B: 1, C: 8, S: 4, groups: 2, eps: 1e-6, out: 'tokens' }, DEFAULT_CAPS)).wgsl;
    expect(tok).toContain('y[(b * S + p) * C + ch]');
  });
});
