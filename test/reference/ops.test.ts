/** The reference ops: small hand-checkable cases, properties, and the embedding goldens from torch. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ops from '../../runtime/reference/ops.ts';
import { forward } from '../../runtime/reference/forward.ts';
import { buildDiTGraph, TINY_DIT } from '../helpers/ditGraph.ts';
import { intTensor, numel, tensor, type Tensor } from '../../core/tensor.ts';
import { isDittoError } from '../../core/errors.ts';
import { readGoldenIo } from '../golden/goldenIo.ts';

const io = readGoldenIo();
const seq = (shape: number[], f = (i: number) => i) => tensor(shape, Array.from({ length: numel(shape) }, (_, i) => f(i)));

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isDittoError(e) ? e.code : `not a DittoError: ${String(e)}`;
  }
  return undefined;
}

describe('embeddings vs torch', () => {
  it('timestep embedding: cos first, then sin (within one f32 ulp of the argument at t = 999)', () => {
    const out = ops.timestepEmbed(io.f32('temb.t'), 256, 10000);
    expect(out.shape).toEqual([4, 256]);
    // torch's f32 exp is not correctly rounded (1 ulp on some frequencies); cos(999·f) amplifies it.
    expect(out.data).toAllClose(io.f32('temb.out').data, { atol: 6e-5, rtol: 0 });
    // t = 0: cos = 1 in the first half, sin = 0 in the second.
    expect(Array.from(out.data.subarray(2 * 256, 2 * 256 + 128))).toEqual(new Array(128).fill(1));
    expect(Array.from(out.data.subarray(2 * 256 + 128, 3 * 256))).toEqual(new Array(128).fill(0));
  });

  it('2-D position embedding: column in the first half, sin then cos', () => {
    expect(ops.posEmbed2d(4, 64).data).toAllClose(io.f32('pos.g4d64').data, { atol: 1e-7, rtol: 0 });
    expect(ops.posEmbed2d(8, 32).data).toAllClose(io.f32('pos.g8d32').data, { atol: 1e-7, rtol: 0 });
  });
});

describe('ops on hand-checkable inputs', () => {
  it('linear: y = x·Wᵀ + b', () => {
    const y = ops.linear(tensor([1, 2], [1, 2]), tensor([3, 2], [1, 0, 0, 1, 1, 1]), tensor([3], [10, 20, 30]));
    expect(Array.from(y.data)).toEqual([11, 22, 33]);
  });

  it('linear: the blocked loops equal a plain f64 dot product for ragged sizes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 7 }), fc.boolean(), (R, O, I, withBias) => {
        const x = seq([R, I], (i) => Math.sin(i * 1.7));
        const w = seq([O, I], (i) => Math.cos(i * 0.3));
        const b = withBias ? seq([O], (i) => i - 2.5) : undefined;
        const y = ops.linear(x, w, b);
        for (let r = 0; r < R; r++)
          for (let o = 0; o < O; o++) {
            let s = 0;
            for (let i = 0; i < I; i++) s += x.data[r * I + i]! * w.data[o * I + i]!;
            expect(y.data[r * O + o]).toBe(Math.fround(s + (b ? b.data[o]! : 0)));
          }
      }),
    );
  });

  it('patch embed: conv with kernel = stride = patch, tokens row-major', () => {
    // One channel, 4×4 image, patch 2, dim 1 with weight = [[1,0],[0,0]]: each token is its patch's top-left pixel.
    const x = seq([1, 1, 4, 4]);
    const out = ops.patchEmbed(x, tensor([1, 1, 2, 2], [1, 0, 0, 0]), tensor([1], [0.5]), 2);
    expect(out.shape).toEqual([1, 4, 1]);
    expect(Array.from(out.data)).toEqual([0.5, 2.5, 8.5, 10.5]);
  });

  it('unpatchify: token (gi,gj) element (u·p+v)·C + c goes to pixel (gi·p+u, gj·p+v)', () => {
    const g = 2;
    const p = 2;
    const C = 3;
    const x = seq([1, g * g, p * p * C]);
    const out = ops.unpatchify(x, p, C, g);
    const side = g * p;
    for (let gi = 0; gi < g; gi++)
      for (let gj = 0; gj < g; gj++)
        for (let u = 0; u < p; u++)
          for (let v = 0; v < p; v++)
            for (let c = 0; c < C; c++) {
              const want = (gi * g + gj) * p * p * C + (u * p + v) * C + c;
              expect(out.data[(c * side + gi * p + u) * side + gj * p + v]).toBe(want);
            }
  });

  it('patch embed then unpatchify with an identity kernel round-trips the image', () => {
    const p = 2;
    const C = 2;
    const x = seq([2, C, 4, 4], (i) => i * 0.25 - 3);
    // dim = p·p·C, weight picks pixel (c,u,v) into channel (u·p+v)·C + c (unpatchify's order).
    const D = p * p * C;
    const w = new Float32Array(D * C * p * p);
    for (let c = 0; c < C; c++) for (let u = 0; u < p; u++) for (let v = 0; v < p; v++) w[((u * p + v) * C + c) * C * p * p + (c * p + u) * p + v] = 1;
    const tokens = ops.patchEmbed(x, tensor([D, C, p, p], w), tensor([D]), p);
    expect(Array.from(ops.unpatchify(tokens, p, C, 2).data)).toEqual(Array.from(x.data));
  });

  it('attention: zero queries give the mean of the values; one-hot keys select', () => {
    // B=1, T=2, heads=1, hd=1: qkv rows (q, k, v).
    const mean = ops.attention(tensor([1, 2, 3], [0, 5, 2, 0, -5, 4]), 1);
    expect(Array.from(mean.data)).toEqual([3, 3]);
    const sharp = ops.attention(tensor([1, 2, 3], [100, 1, 2, 100, 0, 4]), 1);
    expect(sharp.data[0]).toBeCloseTo(2, 5);
  });

  it('attention: heads are independent slices in timm layout', () => {
    const x = seq([1, 3, 3 * 4], (i) => Math.sin(i));
    const two = ops.attention(x, 2);
    // Head h of the 2-head result equals a 1-head attention on that head's q, k, v columns.
    for (let h = 0; h < 2; h++) {
      const cols = [0, 4, 8].flatMap((s) => [s + 2 * h, s + 2 * h + 1]);
      const sub = tensor([1, 3, 6], Array.from({ length: 18 }, (_, i) => x.data[Math.floor(i / 6) * 12 + cols[i % 6]!]!));
      const one = ops.attention(sub, 1);
      for (let t = 0; t < 3; t++) for (let e = 0; e < 2; e++) expect(two.data[t * 4 + 2 * h + e]).toBeCloseTo(one.data[t * 2 + e]!, 6);
    }
  });

  it('layernorm: zero mean and (biased) unit variance per row', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 2, maxLength: 16 }), (row) => {
        const m0 = row.reduce((a, b) => a + b, 0) / row.length;
        // With var ≫ eps the eps term is negligible (eps/var ≤ 1e-4).
        fc.pre(row.reduce((a, b) => a + (b - m0) ** 2, 0) / row.length > 1e-2);
        const y = Array.from(ops.layernorm(tensor([1, row.length], row), 1e-6).data);
        const mean = y.reduce((a, b) => a + b, 0) / y.length;
        const v = y.reduce((a, b) => a + (b - mean) ** 2, 0) / y.length;
        expect(Math.abs(mean)).toBeLessThan(1e-5);
        expect(v).toBeCloseTo(1, 3);
      }),
    );
  });

  it('modulate, gelu_tanh, silu', () => {
    const m = ops.modulate(tensor([1, 2, 1], [1, 2]), tensor([1, 1], [10]), tensor([1, 1], [1]));
    expect(Array.from(m.data)).toEqual([12, 14]);
    expect(ops.unary(tensor([1], [1]), 'gelu_tanh').data[0]).toBeCloseTo(0.8411920071, 6);
    expect(ops.unary(tensor([1], [2]), 'silu').data[0]).toBeCloseTo(2 / (1 + Math.exp(-2)), 6);
    expect(ops.unary(tensor([1], [2]), 'neg').data[0]).toBe(-2);
  });

  it('binary per_sample equals numpy broadcast of [B,1,D]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 1, max: 5 }), (B, T, D) => {
        const a = seq([B, D], (i) => i + 1);
        const x = seq([B, T, D], (i) => i * 0.5);
        const ps = ops.binary(a, x, 'mul', 'per_sample');
        const np = ops.binary(tensor([B, 1, D], a.data as Float32Array), x, 'mul', 'numpy');
        expect(Array.from(ps.data)).toEqual(Array.from(np.data));
        const sub = ops.binary(x, a, 'sub', 'per_sample');
        expect(sub.data[D * T * (B - 1) + D - 1]).toBe(x.data[D * T * (B - 1) + D - 1]! - a.data[D * (B - 1) + D - 1]!);
      }),
    );
  });

  it('binary numpy broadcast with a scalar and a [1,T,D] operand', () => {
    const x = seq([2, 2, 2]);
    expect(Array.from(ops.binary(x, tensor([], [2]), 'div', 'numpy').data)).toEqual(Array.from(x.data, (v) => v / 2));
    const pos = seq([1, 2, 2], (i) => 100 * i);
    expect(Array.from(ops.binary(x, pos, 'add', 'numpy').data)).toEqual([0, 101, 202, 303, 4, 105, 206, 307]);
  });

  it('chunk takes equal slices of the last axis (f32 and i32)', () => {
    expect(Array.from(ops.chunk(seq([2, 6]), 3, 1).data)).toEqual([2, 3, 8, 9]);
    expect(ops.chunk(intTensor([4], [1, 2, 3, 4]), 2, 1).dtype).toBe('i32');
  });
});

describe('user errors', () => {
  const g = buildDiTGraph(TINY_DIT, 1);
  const inputs = (): Record<string, Tensor> => ({ x: tensor([1, 4, 8, 8]), t: tensor([1], [5]), y: intTensor([1], [0]) });

  it('a missing weight names it (E_WEIGHTS)', () => {
    expect(errorCode(() => forward(g, new Map(), inputs()))).toBe('E_WEIGHTS');
  });

  it('a class id outside the table (E_INPUT), a missing or mis-shaped input (E_INPUT)', () => {
    expect(errorCode(() => ops.embedding(intTensor([1], [11]), tensor([11, 2])))).toBe('E_INPUT');
    const { x: _x, ...noX } = inputs();
    expect(errorCode(() => forward(g, new Map(), noX))).toBe('E_INPUT');
    expect(errorCode(() => forward(g, new Map(), { ...inputs(), x: tensor([1, 4, 4, 4]) }))).toBe('E_INPUT');
    expect(errorCode(() => forward(g, new Map(), { ...inputs(), extra: tensor([1]) }))).toBe('E_INPUT');
  });
});
