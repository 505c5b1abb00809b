/** Strided views (in elements): how chunks, broadcasts and CFG halves address a buffer without copies. */
import type { View } from './ir.ts';

export function contiguous(shape: readonly number[], offset = 0): View {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    strides[k] = s;
    s *= shape[k]!;
  }
  return { offset, shape: [...shape], strides };
}

export function isContiguous(v: View): boolean {
  const c = contiguous(v.shape);
  return v.strides.every((s, k) => s === c.strides[k] || v.shape[k] === 1);
}

/** The part of a batch-major view (axis 0 = model batch N) for samples [start, start+count). */
export function restrict(v: View, R: { start: number; count: number }, N: number): View {
  if (v.shape[0] !== N || (R.start === 0 && R.count === N)) return v;
  return { offset: v.offset + R.start * v.strides[0]!, shape: [R.count, ...v.shape.slice(1)], strides: [...v.strides] };
}

/** `v` read at every coordinate of `shape`: numpy rules (right-aligned, size-1 axes broadcast), or
 *  per-sample ([B, D] over [B, T, D]: the token axis broadcasts). */
export function broadcastView(v: View, shape: readonly number[], rule: 'numpy' | 'per_sample'): View {
  if (rule === 'per_sample' && v.shape.length === 2 && shape.length === 3) {
    return { offset: v.offset, shape: [...shape], strides: [v.strides[0]!, 0, v.strides[1]!] };
  }
  const lead = shape.length - v.shape.length;
  const strides = shape.map((d, k) => {
    const j = k - lead;
    if (j < 0) return 0;
    return v.shape[j] === 1 && d !== 1 ? 0 : v.strides[j]!;
  });
  return { offset: v.offset, shape: [...shape], strides };
}

/** Number of distinct elements a view touches (stride-0 axes count once). */
export function viewElements(v: View): number {
  let n = 1;
  v.shape.forEach((d, k) => {
    if (v.strides[k] !== 0) n *= d;
  });
  return n;
}

/** One past the largest element index a view touches. */
export function viewExtent(v: View): number {
  return v.offset + v.shape.reduce((acc, d, k) => acc + (d - 1) * v.strides[k]!, 0) + 1;
}

export function sameView(a: View, b: View): boolean {
  return a.offset === b.offset && a.shape.length === b.shape.length && a.shape.every((d, k) => d === b.shape[k] && a.strides[k] === b.strides[k]);
}
