/**
 * Shape rules' vocabulary: the error a shape mismatch raises (the lowering attaches the source
 * span) and the checks and broadcast rules the op table (ops.ts) is written with.
 */
import { shapeString } from '../../core/tensor.ts';
import type { Node, WeightRef } from './graph.ts';

/** A shape or dtype mismatch found while building; the lowering turns it into a diagnostic. */
export class ShapeError extends Error {
  override readonly name = 'ShapeError';
}

export function expectRank(n: Node, ranks: number[], what: string): void {
  if (!ranks.includes(n.shape.length)) {
    throw new ShapeError(`${what} expects a tensor of rank ${ranks.join(' or ')}, got ${shapeString(n.shape)}`);
  }
}

export function expectF32(n: Node, what: string): void {
  if (n.dtype !== 'f32') throw new ShapeError(`${what} expects f32, got ${n.dtype} ${shapeString(n.shape)}`);
}

export function last(shape: readonly number[]): number {
  return shape[shape.length - 1] ?? 1;
}

export function w(prefix: string | undefined, suffix: string, shape: number[], what: string, optional = false): WeightRef {
  if (prefix === undefined) throw new ShapeError(`${what} reads weights: give it a weight name with @"…"`);
  return { name: suffix ? `${prefix}.${suffix}` : prefix, shape, ...(optional ? { optional } : {}) };
}

/** Broadcast of two shapes under numpy rules; throws with both shapes when they do not broadcast. */
export function broadcastNumpy(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`shapes ${shapeString(a)} and ${shapeString(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Which broadcast rule a binary op between these shapes uses (see graph.ts). */
export function broadcastRule(a: readonly number[], b: readonly number[]): 'numpy' | 'per_sample' {
  const perSample = (x: readonly number[], y: readonly number[]) =>
    x.length === 2 && y.length === 3 && x[0] === y[0] && x[1] === y[2] && y[1] !== 1;
  return perSample(a, b) || perSample(b, a) ? 'per_sample' : 'numpy';
}

export function binaryShape(a: readonly number[], b: readonly number[], rule: 'numpy' | 'per_sample'): number[] {
  if (rule === 'per_sample') return [...(a.length === 3 ? a : b)];
  return broadcastNumpy(a, b);
}

