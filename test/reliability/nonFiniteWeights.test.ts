/** F5: NaN and Inf in a weight file are found at load, named with the tensor and index. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DittoError } from '../../core/errors.ts';
import { tensor } from '../../core/tensor.ts';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { firstNonFinite, unravel } from '../../runtime/weights/finite.ts';
import fc from 'fast-check';
import { ditto, tempDir } from './helpers.ts';

describe('non-finite weights', () => {
  const dir = tempDir();
  const file = path.join(dir, 'nan.safetensors');
  const values = Array.from({ length: 12 }, (_, i) => i / 10);
  values[1 * 4 + 2] = NaN;
  writeSafetensors(file, new Map([['ok', tensor([2], [1, 2])], ['blocks.0.w', tensor([3, 4], values)]]));

  it('loadWeights refuses them with E_WEIGHTS naming the tensor and the first index', () => {
    try {
      loadWeights(file);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(DittoError);
      expect((e as DittoError).code).toBe('E_WEIGHTS');
      expect((e as DittoError).message).toMatch(/tensor 'blocks\.0\.w' \[3, 4\] holds NaN at \[1, 2\]/);
      expect((e as DittoError).message).toMatch(/--allow-non-finite-weights/);
    }
    expect(Number.isNaN((loadWeights(file, 'weights', { allowNonFinite: true }).tensors.get('blocks.0.w')!.data as Float32Array)[6])).toBe(true);
  });

  it('the CLI exits 1 without the flag and converts with it', async () => {
    const out = path.join(dir, 'out.safetensors');
    const r = await ditto('weights', 'convert', file, out);
    expect(r.exit).toBe(1);
    expect(r.err).toMatch(/E_WEIGHTS.*blocks\.0\.w/);
    expect((await ditto('weights', 'convert', '--allow-non-finite-weights', file, out)).exit).toBe(0);
    expect(readFileSync(out).length).toBeGreaterThan(0);
  });

  it('firstNonFinite finds the first NaN or Inf anywhere, and unravel inverts row-major flattening', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 50 }), fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity), (xs, at, bad) => {
        const i = at % xs.length;
        const data = Float32Array.from(xs);
        expect(firstNonFinite(tensor([data.length], data))).toBe(-1);
        data[i] = bad;
        expect(firstNonFinite(tensor([data.length], data))).toBe(i);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.nat(), (shape, k) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const idx = unravel(k % n, shape);
        expect(idx.reduce((acc, v, d) => acc * shape[d]! + v, 0)).toBe(k % n);
      }),
    );
  });
});
