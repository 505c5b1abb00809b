/**
 * Non-finite values in a weight file (NaN, ±Inf) are found when it is loaded, not after a run has
 * turned every output into NaN: the error names the tensor and the first bad index. Callers that
 * must read such a file anyway (inspecting a broken checkpoint) pass `allowNonFinite`.
 */
import { DittoError } from '../../core/errors.ts';
import { shapeString, type Tensor } from '../../core/tensor.ts';

/** The flat index of the first NaN or ±Inf in a floating-point tensor, or -1. */
export function firstNonFinite(t: Tensor): number {
  if (!(t.data instanceof Float32Array)) return -1;
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    // x - x is 0 for every finite x and NaN for NaN and ±Inf: one test for both.
    if (d[i]! - d[i]! !== 0) return i;
  }
  return -1;
}

/** A flat index as a multi-index of `shape`: 17 in [4, 8] → [2, 1]. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(0);
  let rest = flat;
  for (let k = shape.length - 1; k >= 0; k--) {
    const n = shape[k]!;
    out[k] = n > 0 ? rest % n : 0;
    rest = n > 0 ? Math.floor(rest / n) : 0;
  }
  return out;
}

/** Throws E_WEIGHTS naming the first tensor (in file order) that holds a NaN or Inf, and where. */
export function checkFinite(tensors: ReadonlyMap<string, Tensor>, file: string, what: string, optOut: string): void {
  for (const [name, t] of tensors) {
    const i = firstNonFinite(t);
    if (i < 0) continue;
    const v = (t.data as Float32Array)[i]!;
    throw new DittoError('E_WEIGHTS', `${what} '${file}': tensor '${name}' ${shapeString(t.shape)} holds ${v} at [${unravel(i, t.shape).join(', ')}] (element ${i}); a model run on it would produce ${Number.isNaN(v) ? 'NaN' : 'non-finite values'}. ${optOut}`);
  }
}
