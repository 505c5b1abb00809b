import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { DittoError } from '../../core/errors.ts';
import { tensor } from '../../core/tensor.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { computeFid, featureStats, frechetDistance, frechetParts, loadReferenceStats, type FeatureStats } from '../../evaluation/metrics/fid.ts';
import { fromEigen, matmul, symmetricEigen, symmetricEigenvalues } from '../../evaluation/metrics/linalg.ts';
import { openUniformStream } from '../../core/random.ts';

/** Seeded normal samples (mulberry32 + Box–Muller), so properties shrink to reproducible cases. */
function gaussians(seed: number, count: number): Float64Array {
  const uniform = openUniformStream(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

/** n correlated d-dim vectors: z·A + shift, A a random mixing matrix scaled by `scale`. */
function featureSet(seed: number, n: number, d: number, scale: number, shift: number): Float64Array {
  const z = gaussians(seed, n * d);
  const mix = gaussians(seed ^ 0x9e3779b9, d * d);
  const out = new Float64Array(n * d);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < d; j++) {
      let s = shift;
      for (let i = 0; i < d; i++) s += z[k * d + i]! * mix[i * d + j]! * scale;
      out[k * d + j] = s;
    }
  }
  return out;
}

function stats(mean: number[], cov: number[]): FeatureStats {
  return { dim: mean.length, count: 0, mean: Float64Array.from(mean), cov: Float64Array.from(cov) };
}

function diag(v: number[]): number[] {
  const d = v.length;
  const m = new Array<number>(d * d).fill(0);
  v.forEach((x, i) => (m[i * d + i] = x));
  return m;
}

/** G + Gᵀ for a seeded Gaussian d×d matrix G. */
function randomSymmetric(seed: number, d: number): Float64Array {
  const g = gaussians(seed, d * d);
  const sym = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) sym[i * d + j] = g[i * d + j]! + g[j * d + i]!;
  return sym;
}

function randomRotation(seed: number, d: number): Float64Array {
  // The eigenvectors of a random symmetric matrix are an orthogonal matrix.
  return symmetricEigen(randomSymmetric(seed, d), d).vectors;
}

function transpose(m: Float64Array, d: number): Float64Array {
  const t = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = m[i * d + j]!;
  return t;
}

describe('symmetric eigendecomposition (Jacobi)', () => {
  it('reconstructs random symmetric matrices with orthonormal eigenvectors', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 12 }), (seed, d) => {
        const a = randomSymmetric(seed, d);
        const eig = symmetricEigen(a, d);
        expect(fromEigen(eig, d, (l) => l)).toAllClose(a, { atol: 1e-12, rtol: 1e-12 });
        const vtv = matmul(transpose(eig.vectors, d), eig.vectors, d);
        expect(vtv).toAllClose(Float64Array.from(diag(new Array<number>(d).fill(1))), { atol: 1e-12, rtol: 0 });
      }),
      { numRuns: 50 },
    );
  });

  it('gives the same eigenvalues without accumulating eigenvectors', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 12 }), (seed, d) => {
        const a = randomSymmetric(seed, d);
        expect(Array.from(symmetricEigenvalues(a, d))).toEqual(Array.from(symmetricEigen(a, d).values));
      }),
      { numRuns: 50 },
    );
  });
});

describe('Fréchet distance', () => {
  it('matches the closed form for diagonal covariances: |μ₁−μ₂|² + Σ(√a−√b)²', () => {
    const a = [1, 4, 9, 0.25];
    const b = [4, 1, 16, 0];
    const m1 = [0, 1, 2, 3];
    const m2 = [1, 1, 0, 3];
    const expected = 1 + 0 + 4 + 0 + (1 + 1 + 1 + 0.25);
    expect(frechetDistance(stats(m1, diag(a)), stats(m2, diag(b)))).toBeCloseTo(expected, 12);
    const parts = frechetParts(stats(m1, diag(a)), stats(m2, diag(b)));
    expect(parts.mean).toBeCloseTo(5, 12);
    expect(parts.covariance).toBeCloseTo(3.25, 12);
  });

  it('is invariant under a common rotation of both Gaussians (closed form through a dense basis)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 6, maxLength: 6 }), fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 6, maxLength: 6 }), (seed, a, b) => {
        const d = 6;
        const q = randomRotation(seed, d);
        const rot = (v: number[]) => matmul(matmul(q, Float64Array.from(diag(v)), d), transpose(q, d), d);
        const m1 = Array.from(gaussians(seed + 1, d));
        const m2 = Array.from(gaussians(seed + 2, d));
        let expected = 0;
        for (let i = 0; i < d; i++) expected += (m1[i]! - m2[i]!) ** 2 + (Math.sqrt(a[i]!) - Math.sqrt(b[i]!)) ** 2;
        const got = frechetDistance(stats(m1, Array.from(rot(a))), stats(m2, Array.from(rot(b))));
        // Zero eigenvalues near rounding noise put √(1e-15)-sized error into the trace term.
        expect(Math.abs(got - expected)).toBeLessThan(1e-6 * (1 + expected));
      }),
      { numRuns: 60 },
    );
  });

  it('matches the 2×2 closed form for non-commuting covariances: Tr√(Σ₁Σ₂) = √(tr Σ₁Σ₂ + 2√(det Σ₁ det Σ₂))', () => {
    const spd = fc.tuple(fc.double({ min: 0.1, max: 5, noNaN: true }), fc.double({ min: 0.1, max: 5, noNaN: true }), fc.double({ min: -0.95, max: 0.95, noNaN: true }));
    fc.assert(
      fc.property(spd, spd, ([s1, s2, r], [t1, t2, u]) => {
        const A = [s1 * s1, r * s1 * s2, r * s1 * s2, s2 * s2];
        const B = [t1 * t1, u * t1 * t2, u * t1 * t2, t2 * t2];
        const ab = matmul(Float64Array.from(A), Float64Array.from(B), 2);
        const detA = A[0]! * A[3]! - A[1]! * A[2]!;
        const detB = B[0]! * B[3]! - B[1]! * B[2]!;
        const trRoot = Math.sqrt(ab[0]! + ab[3]! + 2 * Math.sqrt(detA * detB));
        const expected = A[0]! + A[3]! + B[0]! + B[3]! - 2 * trRoot;
        const got = frechetDistance(stats([0, 0], A), stats([0, 0], B));
        expect(Math.abs(got - expected)).toBeLessThan(1e-10 * (1 + expected));
      }),
      { numRuns: 200 },
    );
  });

  it('is symmetric and non-negative, and zero for a set against its own statistics (random 8-d sets)', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer(),
        fc.integer({ min: 3, max: 60 }),
        fc.integer({ min: 3, max: 60 }),
        fc.double({ min: 0.01, max: 10, noNaN: true }),
        fc.double({ min: -3, max: 3, noNaN: true }),
        (s1, s2, n1, n2, scale, shift) => {
          const d = 8;
          const a = featureStats(featureSet(s1, n1, d, 1, 0), n1, d);
          const b = featureStats(featureSet(s2, n2, d, scale, shift), n2, d);
          const ab = frechetDistance(a, b);
          const ba = frechetDistance(b, a);
          expect(ab).toBeGreaterThanOrEqual(0);
          expect(Math.abs(ab - ba)).toBeLessThan(1e-7 * (1 + ab));
          // n < d makes the covariance singular: the self-distance is then only zero up to √rounding.
          const scaleOf = (s: FeatureStats) => 1 + s.cov.reduce((t, v, i) => (i % (d + 1) === 0 ? t + v : t), 0);
          expect(frechetDistance(a, a)).toBeLessThan(1e-6 * scaleOf(a));
          expect(frechetDistance(b, b)).toBeLessThan(1e-6 * scaleOf(b));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('reuses the root of a reference it has seen only for that same reference', () => {
    const d = 8;
    const refs = [featureStats(featureSet(1, 40, d, 1, 0), 40, d), featureStats(featureSet(2, 40, d, 3, 1), 40, d)];
    for (let k = 0; k < 6; k++) {
      const x = featureStats(featureSet(10 + k, 30, d, 1 + k, 0.2 * k), 30, d);
      const ref = refs[k % 2]!;
      // A copy is a new object, so its root is computed afresh.
      expect(frechetDistance(x, ref)).toBe(frechetDistance(x, { ...ref }));
    }
  });

  it('grows with the mean shift between two sets', () => {
    const d = 8;
    const base = featureStats(featureSet(7, 200, d, 1, 0), 200, d);
    const near = featureStats(featureSet(7, 200, d, 1, 0.1), 200, d);
    const far = featureStats(featureSet(7, 200, d, 1, 1), 200, d);
    // Same samples shifted: the covariance terms cancel and only |Δμ|² = d·shift² remains.
    expect(frechetDistance(base, near)).toBeCloseTo(d * 0.01, 6);
    expect(frechetDistance(base, far)).toBeCloseTo(d * 1, 6);
  });

  it('computes an unbiased covariance', () => {
    const s = featureStats([1, 2, 3, 4, 5, 6], 3, 2);
    expect(Array.from(s.mean)).toEqual([3, 4]);
    expect(Array.from(s.cov)).toEqual([4, 4, 4, 4]);
  });

  it('rejects mismatched or degenerate inputs with DittoError', () => {
    const a = stats([0, 0], diag([1, 1]));
    const b = stats([0, 0, 0], diag([1, 1, 1]));
    expect(() => frechetDistance(a, b)).toThrow(DittoError);
    expect(() => frechetDistance(a, { ...a, cov: new Float64Array(3) })).toThrow(DittoError);
    expect(() => featureStats([1, 2, 3], 2, 2)).toThrow(/3 values are not 2 vectors of length 2/);
    expect(() => featureStats([1, 2], 1, 2)).toThrow(/at least 2 vectors/);
    expect(() => featureStats([1, NaN, 3, 4], 2, 2)).toThrow(DittoError);
  });
});

describe('reference statistics and FID of images', () => {
  const ref = loadReferenceStats();

  it('loads the 128-d test-set statistics, rebuilt to float64 from f32 + residual', () => {
    expect(ref.dim).toBe(128);
    expect(ref.mean.length).toBe(128);
    expect(ref.cov.length).toBe(128 * 128);
    for (let i = 0; i < 128; i++) {
      expect(ref.cov[i * 128 + i]).toBeGreaterThanOrEqual(0);
      for (let j = 0; j < i; j++) expect(ref.cov[i * 128 + j]).toBe(ref.cov[j * 128 + i]);
    }
    const raw = loadWeights(fileURLToPath(new URL('../../models/fid/fmnist-test-stats.safetensors', import.meta.url))).tensors;
    const f32 = raw.get('sigma')!.data;
    let changed = 0;
    for (let i = 0; i < f32.length; i++) {
      if (ref.cov[i] !== f32[i]) changed++;
      expect(Math.abs(ref.cov[i]! - f32[i]!)).toBeLessThanOrEqual(Math.abs(f32[i]!) * 2 ** -23);
    }
    expect(changed).toBeGreaterThan(f32.length / 2);
  });

  it('the reference statistics are at distance ≈ 0 from themselves', () => {
    let tr = 0;
    for (let i = 0; i < 128; i++) tr += ref.cov[i * 128 + i]!;
    expect(frechetDistance(ref, ref)).toBeLessThan(1e-6 * tr);
  });

  it('computes FID and class accuracy of an image file', () => {
    const golden = loadWeights(fileURLToPath(new URL('./fixtures/fmnist-classifier-golden.safetensors', import.meta.url))).tensors;
    const images = golden.get('images')!;
    const labels = golden.get('labels')!;
    const r = computeFid(images, { reference: ref, labels: labels.data });
    expect(r.n).toBe(8);
    expect(r.fid).toBeGreaterThan(0);
    expect(Number.isFinite(r.fid)).toBe(true);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.75);
    // Blank images are far from Fashion-MNIST: their FID must be much larger.
    const blank = computeFid(tensor([8, 1, 28, 28], new Float32Array(8 * 784).fill(-1)), { reference: ref });
    expect(blank.fid).toBeGreaterThan(2 * r.fid);
    expect(() => computeFid(tensor([1, 1, 28, 28]), { reference: ref })).toThrow(/at least 2 vectors/);
    expect(() => computeFid(images, { reference: ref, labels: [1, 2] })).toThrow(/2 labels for 8 images/);
  });
});
