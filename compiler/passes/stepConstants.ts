/**
 * The per-step numbers of the cache work — a Taylor refresh's 1/Δ, a forecast's coefficients of
 * d₁ … d_o, a CFG-Cache step's band weights — as columns of the step's params row, after the
 * sampler's fields. The kernels read them as uniforms, so two steps whose cache work differs only in
 * these numbers lower to one body: lower.ts leaves the numbers out of a step's signature. Baked in
 * as WGSL constants instead, every distinct number was a kernel and a body of its own (a forecast
 * weight that changes every step made every step a body).
 *
 * Columns are numbered in one fixed walk over a step's cache work — the compute world, then the
 * reuse world of a dynamic step; cond, then uncond; targets in their order — and entries with the
 * same numbers share theirs, so steps with the same cache work (and the same numbers shared) number
 * them alike. `exp` at order 2 is not linear in its numbers and keeps them baked.
 */
import { forecastCoefficients } from '../ir/rules.ts';
import type { StepSpec, TargetStep } from './ir.ts';
import { PARAM_FIELDS } from '../plan/sampler.ts';

export interface StepConstants {
  /** The steps again, each cache-work entry that has numbers marked with its first column. */
  steps: StepSpec[];
  /** Per step, its columns' values (as many as the step uses). */
  values: number[][];
  /** Columns in a row: the most any step uses. */
  columns: number;
}

/** The numbers an entry's kernel reads, in column order (none: nothing per step). */
function entryConstants(ts: TargetStep): number[] {
  if (ts.taylor && ts.taylor.orders >= 1) return [ts.taylor.invDelta];
  if (ts.forecast && !bakedForecast(ts.forecast)) {
    const { m, order, basis, interval } = ts.forecast;
    return forecastCoefficients(m, order, basis, interval).slice(1);
  }
  if (ts.cfg) return [ts.cfg.low, ts.cfg.high];
  return [];
}

function bakedForecast(f: NonNullable<TargetStep['forecast']>): boolean {
  return f.basis?.form === 'exp' && f.order >= 2;
}

export function assignStepConstants(steps: readonly StepSpec[]): StepConstants {
  const values: number[][] = [];
  const out = steps.map((st) => {
    const row: number[] = [];
    // An entry both worlds share stays one object, with one set of columns.
    const copies = new Map<TargetStep, TargetStep>();
    // Entries with the same numbers (every block's forecast at a step, say) read the same columns,
    // so their kernels stay one WGSL module.
    const at = new Map<string, number>();
    const copy = (ts: TargetStep): TargetStep => {
      let c = copies.get(ts);
      if (c) return c;
      const v = entryConstants(ts);
      if (v.length === 0) c = ts;
      else {
        const key = JSON.stringify(v);
        let first = at.get(key);
        if (first === undefined) {
          first = row.length;
          row.push(...v);
          at.set(key, first);
        }
        c = { ...ts, constants: first };
      }
      copies.set(ts, c);
      return c;
    };
    const world = (w: StepSpec): StepSpec => ({ ...w, targets: { cond: w.targets.cond.map(copy), uncond: w.targets.uncond.map(copy) } });
    const s = world(st);
    if (st.dynamic) s.dynamic = { ...st.dynamic, reuse: world(st.dynamic.reuse) };
    values.push(row);
    return s;
  });
  return { steps: out, values, columns: Math.max(0, ...values.map((r) => r.length)) };
}

/** The params-row column of an entry's j-th number. */
export function constantColumn(ts: TargetStep, j: number): number {
  return PARAM_FIELDS.length + ts.constants! + j;
}

/** An entry as it shapes a body: its numbers left out where they are columns (lower.ts's signature). */
export function bodyShape(ts: TargetStep): unknown {
  if (ts.constants === undefined) return ts;
  const { taylor, forecast, cfg, ...rest } = ts;
  return {
    ...rest,
    ...(taylor ? { taylor: { orders: taylor.orders } } : {}),
    ...(forecast ? { forecast: { order: forecast.order } } : {}),
    ...(cfg ? { cfg: true } : {}),
  };
}
