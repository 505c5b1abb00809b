/**
 * The float64 dense linear algebra FID needs: symmetric eigendecomposition (cyclic Jacobi) and
 * matrix products. Matrices are row-major Float64Array of n×n. Jacobi is slower than a QR method
 * but for n = 128 it takes a fraction of a second, is short enough to verify by eye, and gives
 * eigenvalues to high relative accuracy — which matters for the many near-zero eigenvalues of
 * covariance matrices of ReLU features.
 */
import { DittoError } from '../../core/errors.ts';

export interface SymmetricEigen {
  /** Eigenvalues, unsorted. */
  values: Float64Array;
  /** Eigenvectors as the columns of a row-major n×n matrix: A = V·diag(values)·Vᵀ. */
  vectors: Float64Array;
}

const MAX_SWEEPS = 100;

/** Eigendecomposition of a symmetric matrix (only its upper triangle is read, mirrored down). */
export function symmetricEigen(matrix: Float64Array, n: number): SymmetricEigen {
  return jacobi(matrix, n, true) as SymmetricEigen;
}

/**
 * The eigenvalues alone (unsorted): the same rotations without accumulating eigenvectors, about a
 * third less work — what a trace of a matrix function needs (FID's Tr √M).
 */
export function symmetricEigenvalues(matrix: Float64Array, n: number): Float64Array {
  return jacobi(matrix, n, false).values;
}

function jacobi(matrix: Float64Array, n: number, wantVectors: boolean): { values: Float64Array; vectors?: Float64Array } {
  if (matrix.length !== n * n) throw new DittoError('E_INTERNAL', `symmetricEigen: ${matrix.length} values for a ${n}×${n} matrix`);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = matrix[i * n + j]!;
      if (!Number.isFinite(v)) throw new DittoError('E_NUMERIC', `symmetricEigen: the matrix has a non-finite entry at (${i}, ${j})`);
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  const v = new Float64Array(wantVectors ? n * n : 0);
  if (wantVectors) for (let i = 0; i < n; i++) v[i * n + i] = 1;

  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i]! * a[i]!;
  // Converged when the off-diagonal mass is at rounding level of the whole matrix.
  const tol = total * 1e-32;

  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! * a[p * n + q]!;
    if (off <= tol || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        // Rotation angle φ with cot 2φ = θ zeroes a[p][q]; t = tan φ is the smaller root.
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          if (k === p || k === q) continue;
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          const np = c * akp - s * akq;
          const nq = s * akp + c * akq;
          a[k * n + p] = np;
          a[p * n + k] = np;
          a[k * n + q] = nq;
          a[q * n + k] = nq;
        }
        a[p * n + p] = app - t * apq;
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        if (!wantVectors) continue;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return wantVectors ? { values, vectors: v } : { values };
}

/** C = A·B for n×n matrices. */
export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      const brow = k * n;
      const crow = i * n;
      for (let j = 0; j < n; j++) c[crow + j] += aik * b[brow + j]!;
    }
  }
  return c;
}

/** V·diag(f(λ))·Vᵀ of an eigendecomposition. */
export function fromEigen(eig: SymmetricEigen, n: number, f: (lambda: number) => number): Float64Array {
  const d = Array.from(eig.values, f);
  const out = new Float64Array(n * n);
  const v = eig.vectors;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += v[i * n + k]! * d[k]! * v[j * n + k]!;
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/**
 * The principal square root of a symmetric positive semi-definite matrix. Eigenvalues that
 * rounding pushed slightly below zero are clamped to zero.
 */
export function sqrtPsd(matrix: Float64Array, n: number): Float64Array {
  return fromEigen(symmetricEigen(matrix, n), n, (l) => Math.sqrt(Math.max(l, 0)));
}

export function trace(matrix: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += matrix[i * n + i]!;
  return s;
}
