/**
 * The host-side tensor: a dense, row-major array with a shape. Used by the weight readers, the
 * reference executor, the samplers and the runtime's uploads and readbacks.
 */
import { DittoError } from './errors.ts';

export type DType = 'f32' | 'i32';

export interface Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor(shape: readonly number[], data?: Float32Array | number[]): Tensor {
  const n = numel(shape);
  const arr = data === undefined ? new Float32Array(n) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (arr.length !== n) {
    throw new DittoError('E_INTERNAL', `tensor data has ${arr.length} values but shape [${shape.join(', ')}] needs ${n}`);
  }
  return { dtype: 'f32', shape: [...shape], data: arr };
}

export function intTensor(shape: readonly number[], data: Int32Array | number[]): Tensor {
  const arr = data instanceof Int32Array ? data : Int32Array.from(data);
  if (arr.length !== numel(shape)) {
    throw new DittoError('E_INTERNAL', `tensor data has ${arr.length} values but shape [${shape.join(', ')}] needs ${numel(shape)}`);
  }
  return { dtype: 'i32', shape: [...shape], data: arr };
}

export function shapeString(shape: readonly (number | string)[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
