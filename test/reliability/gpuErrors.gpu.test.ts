/** F2 at run time: GPU errors anywhere, including the readback, fail instead of reading back zeros. */
import { describe, expect, it } from 'vitest';
import { DittoError } from '../../core/errors.ts';
import { createStorage, readBack, upload } from '../../runtime/gpu/buffers.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const gpu = await gpuOrSkip();

async function gpuError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    expect((e as DittoError).code).toBe('E_GPU');
    return (e as DittoError).message;
  }
  throw new Error('no error');
}

describe.skipIf(!gpu)('GPU errors fail the run', () => {
  it('a readback larger than its buffer is an error, not zeros (the F2 symptom)', async () => {
    const { device } = gpu!;
    const b = createStorage(device, 64, 'small');
    upload(device, b, new Float32Array(16).fill(1));
    expect(Array.from(new Float32Array(await readBack(device, b, 64)))).toEqual(new Array(16).fill(1));
    expect(await gpuError(readBack(device, b, 4096))).toMatch(/rejected reading back 4096 bytes of 'small'/);
    b.destroy();
  });

  it('an error outside any scope (a write past the end) fails the next readback', async () => {
    const { device } = gpu!;
    const b = createStorage(device, 64, 'target');
    upload(device, b, new Float32Array(64)); // 256 bytes into 64: a validation error nobody scoped
    await new Promise((r) => setTimeout(r, 50));
    expect(await gpuError(readBack(device, b, 64))).toMatch(/reported an error before reading back 'target'/);
    // Reported once: the next readback is clean again.
    expect(new Float32Array(await readBack(device, b, 64))).toHaveLength(16);
    b.destroy();
  });
});
