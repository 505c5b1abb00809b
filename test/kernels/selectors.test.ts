/** Pure (no GPU) checks of the selectors: adapter limits, variant choice, errors, cache keys. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_CAPS, LAVAPIPE_CAPS, MAX_REGISTER_HD, cacheKey, emitAttention, emitElementwise, emitLayerNormModulate, emitMatmul, ex, selectAttention,
  matmulCandidates, selectElementwise, selectLayerNormModulate, selectMatmul, type AdapterCaps, type EmittedKernel,
} from '../../compiler/kernels/index.ts';
import { isDittoError } from '../../core/errors.ts';

/** Workgroup memory a shader declares, read from its text (independent of the family's own accounting). */
function workgroupBytes(wgsl: string): number {
  let total = 0;
  const size: Record<string, number> = { f32: 4, f16: 2, 'vec4<f32>': 16, 'vec4<f16>': 8 };
  for (const m of wgsl.matchAll(/var<workgroup>\s+\w+\s*:\s*array<(f32|f16|vec4<f32>|vec4<f16>),\s*(\d+)>/g)) total += Number(m[2]) * size[m[1]!]!;
  return total;
}

const capsArb: fc.Arbitrary<AdapterCaps> = fc.record({
  isSoftware: fc.boolean(),
  hasF16: fc.boolean(),
  hasSubgroups: fc.boolean(),
  subgroupMinSize: fc.constantFrom(0, 4, 8, 32),
  subgroupMaxSize: fc.constantFrom(8, 32, 64),
  maxWorkgroupStorage: fc.constantFrom(4096, 8192, 16384, 32768),
  maxInvocations: fc.constantFrom(64, 128, 256, 1024),
  maxStorageBufferBindingSize: fc.constant(1 << 27),
  maxWorkgroupsPerDimension: fc.constant(65535),
});

function respectsLimits(k: EmittedKernel, caps: AdapterCaps): void {
  const [x, y, z] = k.workgroupSize;
  expect(x * y * z).toBeLessThanOrEqual(caps.maxInvocations);
  expect(workgroupBytes(k.wgsl)).toBeLessThanOrEqual(caps.maxWorkgroupStorage);
  for (const d of k.dispatch) {
    expect(d).toBeGreaterThanOrEqual(1);
    expect(d).toBeLessThanOrEqual(caps.maxWorkgroupsPerDimension);
  }
  const usesSubgroupBuiltins = /\bsubgroup[A-Z]\w*\s*\(|subgroup_invocation_id|subgroup_size/.test(k.wgsl);
  expect(usesSubgroupBuiltins).toBe(k.wgsl.includes('enable subgroups;'));
  if (k.wgsl.includes('enable subgroups;')) expect(caps.hasSubgroups).toBe(true);
  expect(k.wgsl.includes('f16')).toBe(caps.hasF16 && k.wgsl.includes('enable f16;'));
}

describe('kernel selectors', () => {
  it('respect workgroup storage, invocation and dispatch limits for random shapes and adapters', () => {
    fc.assert(
      fc.property(
        capsArb,
        fc.record({ M: fc.integer({ min: 1, max: 600 }), N: fc.integer({ min: 1, max: 5000 }), K: fc.integer({ min: 1, max: 1200 }) }),
        fc.record({ T: fc.integer({ min: 1, max: 1024 }), heads: fc.integer({ min: 1, max: 16 }), headDim: fc.integer({ min: 1, max: 128 }) }),
        fc.integer({ min: 1, max: 2000 }),
        (caps, mm, at, D) => {
          respectsLimits(emitMatmul(selectMatmul({ ...mm, bias: true, wDtype: caps.hasF16 ? 'f16' : 'f32' }, caps)), caps);
          respectsLimits(emitAttention(selectAttention({ B: 2, ...at }, caps)), caps);
          respectsLimits(emitLayerNormModulate(selectLayerNormModulate({ rows: 3, D, tokens: 3, eps: 1e-6, modulation: null }, caps)), caps);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('every matmul candidate of a random problem fits the adapter and keeps the problem', () => {
    fc.assert(
      fc.property(capsArb, fc.record({ M: fc.integer({ min: 1, max: 600 }), N: fc.integer({ min: 1, max: 3000 }), K: fc.integer({ min: 1, max: 1200 }) }), (caps, mm) => {
        const base = selectMatmul({ ...mm, gelu: true }, caps);
        const candidates = matmulCandidates(base, caps);
        expect(candidates[0]).toEqual(base.variant);
        for (const v of candidates) {
          const cfg = selectMatmul({ ...mm, gelu: true }, caps, v);
          expect({ ...cfg, variant: base.variant }).toEqual(base);
          respectsLimits(emitMatmul(cfg), caps);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('pick the subgroup matmul on software adapters with subgroups, tiles otherwise', () => {
    const p = { M: 512, N: 384, K: 384 };
    const sw = { kind: 'subgroup', lanes: 16, subgroup: 8, cols: 4, kBlock: 4, unroll: 1, vec4A: true, vec4W: true };
    expect(selectMatmul(p, LAVAPIPE_CAPS).variant).toEqual({ ...sw, rows: 16 });
    expect(selectMatmul({ ...p, M: 2 }, LAVAPIPE_CAPS).variant).toEqual({ ...sw, rows: 2 });
    expect(selectMatmul({ ...p, M: 9 }, LAVAPIPE_CAPS).variant).toEqual({ ...sw, rows: 16 });
    // vec4 loads only where every A row and W row starts on 16 bytes and K is a multiple of 4.
    expect(selectMatmul({ ...p, K: 383 }, LAVAPIPE_CAPS).variant).toEqual({ ...sw, rows: 16, vec4A: false, vec4W: false });
    expect(selectMatmul({ ...p, a: { kind: 'rows', offset: 2, rowStride: 388, batchStride: 0 } }, LAVAPIPE_CAPS).variant).toEqual({ ...sw, rows: 16, vec4A: false });
    expect(selectMatmul(p, { ...LAVAPIPE_CAPS, hasSubgroups: false }).variant.kind).toBe('tiled');
    const hw = { kind: 'tiled', vec4A: true, vec4W: true, math: 'f32' };
    expect(selectMatmul(p, DEFAULT_CAPS).variant).toEqual({ ...hw, tileM: 64, tileN: 64, tileK: 16, threadM: 4, threadN: 4, stages: 2 });
    expect(selectMatmul({ ...p, M: 2048, N: 4608 }, DEFAULT_CAPS).variant).toEqual({ ...hw, tileM: 128, tileN: 128, tileK: 8, threadM: 8, threadN: 8, stages: 2 });
    expect(selectMatmul({ ...p, M: 2048, N: 4608 }, { ...DEFAULT_CAPS, maxWorkgroupStorage: 32768 }).variant).toMatchObject({ tileM: 128, tileK: 16 });
    expect(selectMatmul({ ...p, M: 40, K: 383 }, DEFAULT_CAPS).variant).toEqual({ ...hw, vec4A: false, vec4W: false, tileM: 32, tileN: 32, tileK: 16, threadM: 4, threadN: 4, stages: 2 });
    expect(selectMatmul(p, { ...DEFAULT_CAPS, maxWorkgroupStorage: 4096 }).variant).toMatchObject({ tileM: 64, tileK: 8, stages: 1, vec4A: false });
    expect(selectMatmul({ ...p, f16Math: true }, { ...DEFAULT_CAPS, hasF16: true }).variant).toMatchObject({ kind: 'tiled', math: 'f16' });
    expect(() => selectMatmul({ ...p, f16Math: true }, DEFAULT_CAPS)).toThrow(/shader-f16/);
  });

  it('reject a variant the adapter cannot run (a tuned plan on another adapter) with E_GPU', () => {
    const p = { M: 512, N: 384, K: 384 };
    const sw = selectMatmul(p, LAVAPIPE_CAPS).variant;
    expect(() => selectMatmul(p, DEFAULT_CAPS, sw)).toThrow(/cannot run on this adapter/);
    const big = matmulCandidates(selectMatmul(p, { ...DEFAULT_CAPS, maxWorkgroupStorage: 32768 }), { ...DEFAULT_CAPS, maxWorkgroupStorage: 32768 }).find((v) => v.kind === 'tiled' && v.tileK === 16 && v.tileM === 128);
    expect(big).toBeDefined();
    expect(() => selectMatmul(p, DEFAULT_CAPS, big)).toThrow(/workgroup limits/);
    expect(() => selectMatmul({ ...p, K: 383 }, DEFAULT_CAPS, selectMatmul(p, DEFAULT_CAPS).variant)).toThrow(/16-byte/);
  });

  it('pick the attention variant from the adapter: subgroup on software, workgroup on hardware, simple for wide heads', () => {
    const xl = { B: 2, T: 256, heads: 16, headDim: 72 };
    expect(selectAttention(xl, LAVAPIPE_CAPS).variant).toEqual({ kind: 'subgroup', lanes: 8, queries: 8, keys: 1 });
    // The subgroup variant shares K/V rows by broadcasts: software without subgroups gets the workgroup variant.
    expect(selectAttention(xl, { ...LAVAPIPE_CAPS, hasSubgroups: false, subgroupMinSize: 0 }).variant.kind).toBe('workgroup');
    expect(selectAttention({ ...xl, T: 3 }, LAVAPIPE_CAPS).variant).toEqual({ kind: 'subgroup', lanes: 8, queries: 1, keys: 1 });
    expect(selectAttention({ ...xl, headDim: 128 }, LAVAPIPE_CAPS).variant).toMatchObject({ kind: 'subgroup', queries: 4 });
    const hw = selectAttention(xl, DEFAULT_CAPS).variant;
    expect(hw).toEqual({ kind: 'workgroup', threads: 64, queries: 1, keys: 4, kTile: 16 }); // 2·32·18·16 B = 18 KiB > 16 KiB
    expect(selectAttention(xl, { ...LAVAPIPE_CAPS, isSoftware: false }).variant).toMatchObject({ kind: 'workgroup', kTile: 32 });
    expect(selectAttention({ ...xl, headDim: 16 }, DEFAULT_CAPS).variant).toMatchObject({ kind: 'workgroup', queries: 4 });
    expect(selectAttention({ ...xl, headDim: MAX_REGISTER_HD + 1 }, LAVAPIPE_CAPS).variant.kind).toBe('simple');
    expect(selectAttention({ B: 1, T: 1024, heads: 1, headDim: 512 }, DEFAULT_CAPS).variant).toEqual({ kind: 'simple', qTile: 64, kTile: 4 });
    expect(() => selectAttention({ B: 1, T: 8, heads: 1, headDim: 4096 }, DEFAULT_CAPS)).toThrow(/does not fit this adapter's workgroup memory/);
  });

  it('write the register attention variants without run-time-indexed private arrays', () => {
    for (const caps of [LAVAPIPE_CAPS, DEFAULT_CAPS]) {
      const wgsl = emitAttention(selectAttention({ B: 2, T: 256, heads: 6, headDim: 64 }, caps)).wgsl;
      expect(wgsl).not.toMatch(/var\s+\w+\s*:\s*array</);
      expect(wgsl).not.toMatch(/exp\(/);
    }
  });

  it('reject bindings larger than maxStorageBufferBindingSize with E_GPU naming the tensor', () => {
    const caps = { ...DEFAULT_CAPS, maxStorageBufferBindingSize: 1 << 20 };
    try {
      selectMatmul({ M: 8, N: 1024, K: 1024 }, caps);
      expect.unreachable();
    } catch (e) {
      expect(isDittoError(e) && e.code).toBe('E_GPU');
      expect((e as Error).message).toContain("'w'");
      expect((e as Error).message).toContain('maxStorageBufferBindingSize');
    }
  });

  it('reject f16 storage on adapters without shader-f16', () => {
    expect(() => selectMatmul({ M: 4, N: 4, K: 4, wDtype: 'f16' }, DEFAULT_CAPS)).toThrow(/shader-f16/);
  });

  it('fold elementwise dispatches larger than 65535 workgroups into y and still cover every element', () => {
    const shape = [5, 1 << 22]; // 21M elements: 81920 workgroups of 256
    const k = emitElementwise(selectElementwise({ shape, inputs: [], outputs: [{ name: 'o', view: { offset: 0, strides: [1 << 22, 1] }, expr: ex.c(1) }] }, DEFAULT_CAPS));
    expect(k.dispatch[1]).toBeGreaterThan(1);
    expect(k.dispatch[0]).toBeLessThanOrEqual(65535);
    expect(k.dispatch[0] * k.dispatch[1] * k.workgroupSize[0]).toBeGreaterThanOrEqual(5 << 22);
  });

  it('give equal configs equal keys whatever the key order, and different configs different keys', () => {
    expect(cacheKey('f', { a: 1, b: { c: [1, 2], d: 'x' } })).toBe(cacheKey('f', { b: { d: 'x', c: [1, 2] }, a: 1 }));
    const base = selectMatmul({ M: 5, N: 6, K: 7, bias: true }, DEFAULT_CAPS);
    const same = selectMatmul({ K: 7, N: 6, bias: true, M: 5, gelu: false }, DEFAULT_CAPS);
    expect(emitMatmul(same).key).toBe(emitMatmul(base).key);
    expect(emitMatmul(same).wgsl).toBe(emitMatmul(base).wgsl);
    expect(emitMatmul(selectMatmul({ M: 5, N: 6, K: 7, bias: true, gelu: true }, DEFAULT_CAPS)).key).not.toBe(emitMatmul(base).key);
  });

  it('reject malformed problems as internal errors, not crashes', () => {
    expect(() => selectMatmul({ M: 0, N: 1, K: 1 }, DEFAULT_CAPS)).toThrow(/M must be a positive integer/);
    expect(() => selectMatmul({ M: 2, N: 2, K: 4, a: { kind: 'rows', offset: 0, rowStride: 3, batchStride: 0 } }, DEFAULT_CAPS)).toThrow(/row stride/);
    expect(() => selectElementwise({ shape: [4], inputs: [], outputs: [{ name: 'o', view: { offset: 0, strides: [1] }, expr: ex.input(0) }] }, DEFAULT_CAPS)).toThrow(/input 0 does not exist/);
    expect(() => selectElementwise({ shape: [4], inputs: [], outputs: [{ name: 'o', view: { offset: 0, strides: [1, 1] }, expr: ex.c(0) }] }, DEFAULT_CAPS)).toThrow(/strides/);
  });
});
