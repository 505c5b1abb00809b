/** The emitted WGSL of fixed configs is stable text (snapshot) and compiles on Dawn. */
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { shaderMessages } from '../../runtime/kernelRunner.ts';
import { catalogue } from './catalogue.ts';

const gpu = await gpuOrSkip();

describe('emitted WGSL', () => {
  const kernels = catalogue();

  for (const [name, k] of Object.entries(kernels)) {
    it(`matches its snapshot: ${name}`, () => {
      expect({ key: k.key, workgroupSize: k.workgroupSize, dispatch: k.dispatch, bindings: k.bindings }).toMatchSnapshot();
      expect(k.wgsl).toMatchSnapshot();
    });
  }

  it('is deterministic: emitting the same configs again gives identical text and keys', () => {
    const again = catalogue();
    for (const [name, k] of Object.entries(kernels)) {
      expect(again[name]!.wgsl).toBe(k.wgsl);
      expect(again[name]!.key).toBe(k.key);
    }
  });

  it('gives distinct kernels distinct cache keys', () => {
    const keys = Object.values(kernels).map((k) => k.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.skipIf(!gpu)('every shader compiles on Dawn without errors', async () => {
    for (const [name, k] of Object.entries(kernels)) {
      const errors = (await shaderMessages(gpu!, k)).filter((m) => m.type === 'error');
      expect({ name, errors }).toEqual({ name, errors: [] });
    }
  });
});
