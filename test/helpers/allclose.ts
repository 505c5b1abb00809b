/**
 * `expect(actual).toAllClose(expected, { atol, rtol })`: elementwise |a − e| ≤ atol + rtol·|e|.
 * On failure it reports the first mismatching index, both values, and the worst error.
 */
import { expect } from 'vitest';

export interface CloseOptions {
  atol?: number;
  rtol?: number;
}

type NumArray = ArrayLike<number>;

export interface CloseReport {
  pass: boolean;
  message: string;
}

export function compareClose(actual: NumArray, expected: NumArray, opts: CloseOptions = {}): CloseReport {
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-5;
  if (actual.length !== expected.length) {
    return { pass: false, message: `length differs: actual ${actual.length}, expected ${expected.length}` };
  }
  let first = -1;
  let worst = 0;
  let worstAt = -1;
  let bad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const err = Math.abs(a - e);
    const ok = err <= atol + rtol * Math.abs(e) || (Number.isNaN(a) && Number.isNaN(e)) || a === e;
    if (!ok) {
      bad++;
      if (first < 0) first = i;
      if (!(err <= worst)) {
        worst = err;
        worstAt = i;
      }
    }
  }
  if (first < 0) return { pass: true, message: `all ${actual.length} values within atol ${atol}, rtol ${rtol}` };
  return {
    pass: false,
    message:
      `${bad} of ${actual.length} values differ (atol ${atol}, rtol ${rtol}); first at index ${first}: ` +
      `actual ${actual[first]}, expected ${expected[first]}; worst at index ${worstAt}: ` +
      `actual ${actual[worstAt]}, expected ${expected[worstAt]} (|diff| ${worst})`,
  };
}

expect.extend({
  toAllClose(received: NumArray, expected: NumArray, opts?: CloseOptions) {
    const r = compareClose(received, expected, opts);
    return { pass: r.pass, message: () => r.message };
  },
});

declare module 'vitest' {
  interface Assertion<T> {
    toAllClose(expected: ArrayLike<number>, opts?: CloseOptions): T;
  }
  interface AsymmetricMatchersContaining {
    toAllClose(expected: ArrayLike<number>, opts?: CloseOptions): unknown;
  }
}
