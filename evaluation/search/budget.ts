/** `--budget`: a speed-up (`2.5x`) or a time per image (`40ms`, `0.04s`). */
import { DittoError } from '../../core/errors.ts';

export type Budget = { kind: 'speedup'; speedup: number } | { kind: 'time'; msPerImage: number };

export function parseBudget(text: string): Budget {
  const t = text.trim().toLowerCase();
  const m = /^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(x|×|ms|s)$/.exec(t);
  if (!m) throw new DittoError('E_USAGE', `--budget expects a speed-up such as 2.5x or a time per image such as 40ms (or 0.04s), got '${text}'`);
  const v = Number(m[1]);
  if (!Number.isFinite(v) || v <= 0) throw new DittoError('E_USAGE', `--budget must be positive, got '${text}'`);
  if (m[2] === 'x' || m[2] === '×') {
    if (v < 1) throw new DittoError('E_USAGE', `--budget ${text}: a speed-up budget must be at least 1x (1x is the no-cache schedule itself)`);
    return { kind: 'speedup', speedup: v };
  }
  return { kind: 'time', msPerImage: m[2] === 's' ? v * 1000 : v };
}

export function budgetText(b: Budget): string {
  return b.kind === 'speedup' ? `${b.speedup}x` : `${b.msPerImage}ms`;
}

/** The largest predicted ms per image that meets the budget, given the no-cache ms per image. */
export function budgetMsPerImage(b: Budget, baselineMsPerImage: number): number {
  return b.kind === 'speedup' ? baselineMsPerImage / b.speedup : b.msPerImage;
}
