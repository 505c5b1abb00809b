import { describe, expect, it } from 'vitest';
import { LAVAPIPE_CAPS, DEFAULT_CAPS } from '../../compiler/kernels/index.ts';
import { compulsoryBytes, DIT_SIZES, kernelCases } from '../../bench/kernelCases.ts';
import { agreement, DIT_S2_BATCH2, ditOnnxPaths, exportArgs } from '../../bench/peer/ort.ts';

describe('kernelCases', () => {
  it('counts 2·M·N·K for matmuls and 4·B·H·T²·hd for attention, at batch 2 × 256 tokens', () => {
    const s = kernelCases(DIT_SIZES[0]!, LAVAPIPE_CAPS);
    const fc1 = s.find((c) => c.name.startsWith('fc1'))!;
    expect(fc1.mnk).toEqual([512, 1536, 384]);
    expect(fc1.flops).toBe(2 * 512 * 1536 * 384);
    const att = s.find((c) => c.kind === 'attention')!;
    expect(att.flops).toBe(4 * 2 * 6 * 256 * 256 * 64);
    expect(s.find((c) => c.kind === 'layernorm_modulate')!.flops).toBeNull();
    // A, W, bias and C once each at least.
    expect(fc1.bytes).toBe(compulsoryBytes(fc1.kernel));
    expect(fc1.bytes).toBeGreaterThanOrEqual(4 * (512 * 384 + 1536 * 384 + 1536 + 512 * 1536));
  });
  it('picks the adapter’s variants (subgroup on lavapipe, tiled elsewhere)', () => {
    const lav = kernelCases(DIT_SIZES[2]!, LAVAPIPE_CAPS).find((c) => c.kind === 'matmul')!;
    const hw = kernelCases(DIT_SIZES[2]!, DEFAULT_CAPS).find((c) => c.kind === 'matmul')!;
    expect(lav.kernel.key).toContain('"subgroup"');
    expect(hw.kernel.key).toContain('"tiled"');
  });
});

describe('ORT peer helpers', () => {
  it('agreement measures relative L2 and max |Δ| and fails above the tolerance', () => {
    const want = new Float32Array([1, -2, 3, 0]);
    expect(agreement(want, want)).toEqual({ maxAbs: 0, relL2: 0, ok: true });
    const got = new Float32Array([1, -2, 3, 0.1]);
    const a = agreement(got, want);
    expect(a.maxAbs).toBeCloseTo(0.1, 6);
    expect(a.relL2).toBeCloseTo(0.1 / Math.sqrt(14), 6);
    expect(a.ok).toBe(false);
    expect(agreement(new Float32Array([NaN, 0, 0, 0]), want).ok).toBe(false);
    expect(() => agreement(new Float32Array(3), want)).toThrow(expect.objectContaining({ code: 'E_NUMERIC' }));
  });
  it('export paths and arguments follow the config', () => {
    const p = ditOnnxPaths(DIT_S2_BATCH2, undefined, '/w');
    expect(p).toEqual({ onnx: '/w/dit-s2-random-b2.onnx', io: '/w/dit-s2-random-b2.onnx.io.safetensors', weights: '/w/dit-s2-random.safetensors' });
    const q = ditOnnxPaths(DIT_S2_BATCH2, '/m/DiT-S-2.safetensors', '/w');
    expect(q.onnx).toBe('/w/DiT-S-2-b2.onnx');
    const args = exportArgs(DIT_S2_BATCH2, q, true);
    expect(args.join(' ')).toContain('--weights /m/DiT-S-2.safetensors --depth 12 --hidden 384 --heads 6 --patch 2 --latent 32 --channels 4 --classes 1000 --learn-sigma --batch 2');
  });
});
