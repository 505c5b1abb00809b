/**
 * Tiling image ops over channel ranges when a tensor exceeds the adapter's storage binding size
 * (compiler/passes/tileImage.ts, docs/vae.md): every binding of a tiled plan fits the limit, the
 * weight pieces are the right slices, the refusals name what does not fit, and on the GPU the tiled
 * VAE-Tiny decode equals the untiled one and the reference (rel 1e-4).
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDittoError } from '../../core/errors.ts';
import { tensor, type Tensor } from '../../core/tensor.ts';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { compileForward } from '../../compiler/forward.ts';
import { compileCapsFor, LAVAPIPE_CAPS, type CompileCaps } from '../../compiler/plan/caps.ts';
import { loadForwardPlan } from '../../compiler/plan/load.ts';
import type { ForwardPlan } from '../../compiler/plan/types.ts';
import { forward } from '../../runtime/reference/forward.ts';
import { createForwardRunner, withWeightSlices } from '../../runtime/run/forwardRunner.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { goldenPath, readGoldenIo } from '../golden/goldenIo.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const VAE = loadProgram(fileURLToPath(new URL('../../models/vae.ditto', import.meta.url)));
const vaeGraph = (batch = 1, set: Record<string, number> = {}) => lowerModel(VAE, { model: 'VAE-Tiny', batch, set });
const limited = (caps: CompileCaps, bytes: number): CompileCaps => ({ ...caps, maxStorageBufferBindingSize: bytes });

/** Bytes each binding of the plan exposes to its kernel. */
function boundBytes(p: ForwardPlan): number[] {
  return p.body.dispatches.flatMap((d) => d.bindings.map((b) => b.size ?? p.buffers[b.buffer]!.bytes - b.offset));
}

const gpu = await gpuOrSkip();

describe('tile-image pass', () => {
  it('leaves a plan that fits alone, and splits convs and norms of one that does not', () => {
    const untiled = compileForward(vaeGraph(), { caps: LAVAPIPE_CAPS }).plan;
    expect(untiled.body.dispatches.some((d) => d.note?.includes('[tile'))).toBe(false);
    expect(untiled.buffers.some((b) => b.derived?.kind === 'slice')).toBe(false);
    const tiled = compileForward(vaeGraph(), { caps: limited(LAVAPIPE_CAPS, 16384) }).plan;
    const notes = tiled.body.dispatches.map((d) => d.note ?? '');
    // up block 2's upsampler conv writes 8 channels × 32² (32 KiB): two pieces of 4 output channels.
    expect(notes.filter((n) => n.startsWith('nearest ×2') && n.includes('[tile')).length).toBe(2);
    expect(notes.some((n) => n.includes('[tile b0 groups 0:2]'))).toBe(true);
    // Input-channel pieces after the first accumulate in place, without bias.
    const inPlace = tiled.body.dispatches.filter((d) => (tiled.kernels[d.kernel]!.config as { residual?: string }).residual === 'inPlace');
    expect(inPlace.length).toBeGreaterThan(0);
    expect(Math.max(...boundBytes(tiled))).toBeLessThanOrEqual(16384);
    // The tiled plan survives the plan schema.
    expect(loadForwardPlan(JSON.parse(JSON.stringify(tiled))).hash).toBe(tiled.hash);
  });

  it('property: for any binding limit the plan either fits every binding within it or is refused with E_GPU', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2048, max: 40000 }), fc.constantFrom(1, 2), fc.constantFrom(2, 4), (limit, batch, latent) => {
        let plan: ForwardPlan;
        try {
          plan = compileForward(vaeGraph(batch, { latent }), { caps: limited(LAVAPIPE_CAPS, limit) }).plan;
        } catch (e) {
          expect(isDittoError(e) && e.code === 'E_GPU').toBe(true);
          expect((e as Error).message).toMatch(/maxStorageBufferBindingSize/);
          return;
        }
        expect(Math.max(...boundBytes(plan))).toBeLessThanOrEqual(limit);
        for (const d of plan.body.dispatches) for (const b of d.bindings) expect(b.offset % LAVAPIPE_CAPS.minStorageBufferOffsetAlignment).toBe(0);
      }),
      { numRuns: 25, seed: 10 },
    );
  });

  it('refuses a limit below one GroupNorm group, naming it', () => {
    expect(() => compileForward(vaeGraph(), { caps: limited(LAVAPIPE_CAPS, 4096) })).toThrow(/group_norm of 8 channels × 1024 pixels: the smallest piece \(1 group\) needs 8192 bytes/);
  });

  it('weight pieces are the slices [o0:o1, i0:i1] of the file tensors; a missing source is E_WEIGHTS', () => {
    const plan = compileForward(vaeGraph(), { caps: limited(LAVAPIPE_CAPS, 8192) }).plan;
    const weights = loadWeights(goldenPath('vae_tiny.safetensors')).tensors;
    const all = withWeightSlices(plan, weights, 'vae_tiny.safetensors');
    const pieces = plan.buffers.filter((b) => b.derived?.kind === 'slice');
    expect(pieces.length).toBeGreaterThan(0);
    for (const b of pieces) {
      const d = b.derived as { of: string; ranges: [number, number][] };
      const src = weights.get(d.of)!;
      const piece = all.get(b.name)!;
      expect(piece.shape).toEqual(b.shape);
      // Spot-check every element against direct indexing of the source.
      const inner = src.shape.slice(d.ranges.length).reduce((a, c) => a * c, 1);
      const rows = piece.data.length / inner;
      for (let r = 0; r < rows; r++) {
        let srcRow = 0, rest = r;
        const extents = d.ranges.map(([a, e]) => e - a);
        const idx = extents.map((_, k) => {
          const below = extents.slice(k + 1).reduce((a, c) => a * c, 1);
          const i = Math.floor(rest / below);
          rest %= below;
          return i;
        });
        idx.forEach((i, k) => (srcRow = srcRow * src.shape[k]! + d.ranges[k]![0] + i));
        for (let j = 0; j < inner; j++) expect(piece.data[r * inner + j]).toBe(src.data[srcRow * inner + j]);
      }
    }
    const missing = new Map(weights);
    missing.delete((pieces[0]!.derived as { of: string }).of);
    expect(() => withWeightSlices(plan, missing, 'x.safetensors')).toThrow(/missing tensor decoder\./);
  });
});

/** rel `rtol` of the expected's largest magnitude, elementwise. */
function close(actual: Tensor, expected: Tensor, rtol: number) {
  expect(actual.shape).toEqual(expected.shape);
  let scale = 0;
  for (const v of expected.data) scale = Math.max(scale, Math.abs(v));
  expect(actual.data).toAllClose(expected.data, { rtol, atol: rtol * scale });
}

describe.skipIf(!gpu)('tiled VAE decode on the GPU', () => {
  it('VAE-Tiny with 16 KiB and 8 KiB bindings: GPU tiled ≡ GPU untiled ≡ reference (rel 1e-4)', async () => {
    const caps = compileCapsFor(gpu!.report);
    const graph = vaeGraph();
    const weights = loadWeights(goldenPath('vae_tiny.safetensors')).tensors;
    const io = readGoldenIo('vae_tiny_io.safetensors');
    const z = tensor([1, 4, 4, 4], Float32Array.from(io.f32('z').data.subarray(0, 64)));
    const ref = forward(graph, weights, { z }).image!;
    const images: Tensor[] = [];
    for (const limit of [caps.maxStorageBufferBindingSize, 16384, 8192]) {
      const plan = compileForward(graph, { caps: limited(caps, limit) }).plan;
      const runner = await createForwardRunner(plan, weights, { gpu: gpu! });
      try {
        images.push((await runner.forward({ z })).image!);
      } finally {
        runner.destroy();
      }
    }
    const [untiled, t16, t8] = images as [Tensor, Tensor, Tensor];
    close(untiled, ref, 1e-4);
    close(t16, untiled, 1e-4);
    close(t8, untiled, 1e-4);
    close(t8, ref, 1e-4);
  });
});
