/**
 * Small typed readers for plan validation: each returns the value when it has the expected type
 * and range, and otherwise throws E_PLAN naming the field (`bodies[2].dispatches[5].bindings[1]`).
 */
import { DittoError } from '../../core/errors.ts';

export function bad(field: string, what: string): never {
  throw new DittoError('E_PLAN', `plan: ${field} ${what}`);
}

export function obj(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(field, 'must be an object');
  return v as Record<string, unknown>;
}

export function arr(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) bad(field, 'must be an array');
  return v;
}

export function int(v: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(field, `must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return v;
}

export function num(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(field, `must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

export function str(v: unknown, field: string): string {
  if (typeof v !== 'string') bad(field, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

export function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') bad(field, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

export function oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !values.includes(v as T)) bad(field, `must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** An optional field: undefined passes, anything else must pass `check`. */
export function opt<T>(v: unknown, check: (v: unknown) => T): T | undefined {
  return v === undefined ? undefined : check(v);
}

export function strings(v: unknown, field: string): string[] {
  return arr(v, field).map((s, i) => str(s, `${field}[${i}]`));
}

export function ints(v: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number[] {
  return arr(v, field).map((s, i) => int(s, `${field}[${i}]`, min, max));
}
