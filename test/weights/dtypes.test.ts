import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bf16ToF32, f16ToF32, f32ToF16Bits } from '../../runtime/weights/dtypes.ts';

describe('f16 and bf16 decoding', () => {
  it('decodes f16 landmarks exactly', () => {
    const bits = Uint16Array.from([0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x3555]);
    const want = [0, -0, 1, -2, 65504, 2 ** -14, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, 0.333251953125];
    const got = Array.from(f16ToF32(bits));
    expect(got).toEqual(want);
    expect(Object.is(got[1], -0)).toBe(true);
    expect(Number.isNaN(f16ToF32(Uint16Array.from([0x7e00]))[0])).toBe(true);
  });

  it('f32 → f16 → f32 is the identity on every non-NaN f16 value', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const vals = f16ToF32(all);
    for (let h = 0; h < 65536; h++) {
      if (Number.isNaN(vals[h])) continue;
      if (f32ToF16Bits(vals[h]!) !== h) throw new Error(`bits 0x${h.toString(16)} → ${vals[h]} → 0x${f32ToF16Bits(vals[h]!).toString(16)}`);
    }
  });

  it('f32 → f16 rounds to nearest, ties to even, and overflows to inf', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even (down)
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal → even
    expect(f32ToF16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(f32ToF16Bits(-1e-10)).toBe(0x8000);
  });

  it('f32 → f16 picks the nearest representable value (property)', () => {
    const table = f16ToF32(new Uint16Array(65536).map((_, i) => i));
    fc.assert(
      fc.property(fc.float({ min: -60000, max: 60000, noNaN: true }), (x) => {
        const y = table[f32ToF16Bits(x)]!;
        // No f16 value lies strictly closer to x than the one chosen.
        const h = f32ToF16Bits(x);
        for (const n of [h - 1, h + 1]) {
          const z = table[n & 0xffff]!;
          if (Number.isFinite(z) && Math.sign(z) === Math.sign(y) && Math.abs(z - x) < Math.abs(y - x)) return false;
        }
        return true;
      }),
    );
  });

  it('decodes bf16 as the top half of an f32', () => {
    const got = bf16ToF32(Uint16Array.from([0x3f80, 0xc020, 0x7f80, 0x0001, 0x3eab]));
    expect(Array.from(got)).toEqual([1, -2.5, Infinity, 2 ** -133, 0.333984375]);
  });
});
