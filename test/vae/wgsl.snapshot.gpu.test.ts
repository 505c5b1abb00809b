/** The VAE kernels' WGSL at fixed configs is stable text (snapshots) and compiles on Dawn. */
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { shaderMessages } from '../../runtime/kernelRunner.ts';
import {
  DEFAULT_CAPS, LAVAPIPE_CAPS, emitAttention, emitConv2d, emitGroupNorm, emitUpsampleNearest, selectAttention, selectConv2d,
  selectGroupNorm, selectUpsampleNearest, type EmittedKernel,
} from '../../compiler/kernels/index.ts';

const gpu = await gpuOrSkip();

/** Full-size sd-vae-ft-ema shapes for one 32×32 latent (256 px), plus odd shapes. */
function vaeCatalogue(): Record<string, EmittedKernel> {
  const sw = LAVAPIPE_CAPS, hw = { ...DEFAULT_CAPS, hasF16: true };
  return {
    'conv2d sw conv_in 4→512 32²': emitConv2d(selectConv2d({ B: 1, Cin: 4, H: 32, W: 32, Cout: 512, kernel: 3, padding: 1, bias: true }, sw)),
    'conv2d sw resnet conv2 + residual 512 32²': emitConv2d(selectConv2d({ B: 1, Cin: 512, H: 32, W: 32, Cout: 512, kernel: 3, padding: 1, bias: true, residual: 'buffer' }, sw)),
    'conv2d hw upsampler ×2 folded 512 32²→64²': emitConv2d(selectConv2d({ B: 1, Cin: 512, H: 32, W: 32, Cout: 512, kernel: 3, padding: 1, bias: true, upsample: 2 }, hw)),
    'conv2d hw shortcut 1×1 512→256 in place f16 weights': emitConv2d(selectConv2d({ B: 1, Cin: 512, H: 128, W: 128, Cout: 256, kernel: 1, padding: 0, bias: true, residual: 'inPlace', wDtype: 'f16' }, hw)),
    'conv2d sw conv_out 128→3 256² ragged': emitConv2d(selectConv2d({ B: 1, Cin: 128, H: 256, W: 256, Cout: 3, kernel: 3, padding: 1, bias: true }, sw)),
    'group_norm sw + silu 512 32²': emitGroupNorm(selectGroupNorm({ B: 1, C: 512, S: 1024, groups: 32, eps: 1e-6, silu: true }, sw)),
    'group_norm hw tokens (attention input)': emitGroupNorm(selectGroupNorm({ B: 2, C: 512, S: 1024, groups: 32, eps: 1e-6, out: 'tokens' }, hw)),
    'upsample_nearest ×2 512 32²': emitUpsampleNearest(selectUpsampleNearest({ planes: 512, H: 32, W: 32, factor: 2 }, sw)),
    'attention sw pixel attention hd 512 T 1024': emitAttention(selectAttention({ B: 1, T: 1024, heads: 1, headDim: 512 }, sw)),
  };
}

describe('VAE kernels: emitted WGSL', () => {
  const kernels = vaeCatalogue();

  for (const [name, k] of Object.entries(kernels)) {
    it(`matches its snapshot: ${name}`, () => {
      expect({ key: k.key, workgroupSize: k.workgroupSize, dispatch: k.dispatch, bindings: k.bindings }).toMatchSnapshot();
      expect(k.wgsl).toMatchSnapshot();
    });
  }

  it('distinct configs have distinct keys; emitting again gives identical text', () => {
    expect(new Set(Object.values(kernels).map((k) => k.key)).size).toBe(Object.keys(kernels).length);
    const again = vaeCatalogue();
    for (const [name, k] of Object.entries(kernels)) expect(again[name]!.wgsl).toBe(k.wgsl);
  });

  it.skipIf(!gpu)('every shader compiles on Dawn without errors', async () => {
    for (const [name, k] of Object.entries(kernels)) {
      const errors = (await shaderMessages(gpu!, k)).filter((m) => m.type === 'error');
      expect({ name, errors }).toEqual({ name, errors: [] });
    }
  });
});
