/**
 * LayerNorm+modulate on the GPU vs the JS reference, random small shapes with ragged edges (D not a
 * multiple of the workgroup), both variants. Attention: attention.gpu.test.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { capsFromReport, emitLayerNormModulate, selectLayerNormModulate, type AdapterCaps } from '../../compiler/kernels/index.ts';
import { runKernel } from '../../runtime/kernelRunner.ts';
import { layerNormModulateRef, randomArray, rngFrom } from './reference.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('layernorm_modulate on the GPU', () => {
  const real = gpu ? capsFromReport(gpu.report) : undefined;
  const variants: [string, () => AdapterCaps, string][] = [
    ['software', () => ({ ...real!, isSoftware: true }), 'subgroup'],
    ['hardware', () => ({ ...real!, isSoftware: false }), 'workgroup'],
  ];

  for (const [name, caps, kind] of variants) {
    it.skipIf(name === 'software' && !real?.hasSubgroups)(`layernorm_modulate (${name}) matches the reference`, async () => {
      const arb = fc.record({
        B: fc.integer({ min: 1, max: 3 }),
        tokens: fc.integer({ min: 1, max: 5 }),
        D: fc.integer({ min: 1, max: 150 }),
        modulate: fc.boolean(),
        extra: fc.integer({ min: 0, max: 3 }),
        seed: fc.integer(),
      });
      await fc.assert(
        fc.asyncProperty(arb, async ({ B, tokens, D, modulate, extra, seed }) => {
          const rng = rngFrom(seed);
          const rows = B * tokens;
          // Like DiT: shift and scale are chunks of one [B, k·D] tensor.
          const rowStride = (2 + extra) * D;
          const modulation = modulate ? { rowStride, shiftOffset: extra * D, scaleOffset: (extra + 1) * D } : null;
          const cfg = selectLayerNormModulate({ rows, D, tokens, eps: 1e-6, modulation }, caps());
          expect(cfg.variant.kind).toBe(kind);
          const k = emitLayerNormModulate(cfg);
          const x = randomArray(rows * D, rng, 3);
          const mod = randomArray(B * rowStride, rng);
          const out = await runKernel(gpu!, k, { x, modulation: mod, y: new Float32Array(rows * D) });
          const ref = layerNormModulateRef(x, rows, D, tokens, 1e-6, modulation && { data: mod, ...modulation });
          expect(out.y).toAllClose(ref, { atol: 1e-4, rtol: 1e-4 });
        }),
        { numRuns: 5 },
      );
    });
  }
});
