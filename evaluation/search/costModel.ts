/**
 * The search's cost model: the plan's own dispatch list, priced with kernel times measured on this
 * adapter instead of the compile profile's roofline.
 *
 * Calibration profiles a few short plans (the no-cache plan and probe candidates drawn like the
 * search's own) with timestamp queries and records every dispatch's GPU time. A dispatch is then
 * priced by, in order: the median measured time of the same kernel at the same workgroup count (its
 * signature); else a per-kernel-family line fitted to the measurements, ms = a·roofline + b; else
 * the line fitted over all families. Each step adds a fixed host overhead per dispatch, fitted from
 * the unprofiled wall-clock of the no-cache plan against its profiled kernel time. The model is
 * plain data (it is saved in the search state), so a resumed search prices candidates exactly as
 * the interrupted one did.
 */
import { dispatchSeconds } from '../../compiler/plan/cost.ts';
import type { CompileCaps } from '../../compiler/plan/caps.ts';
import type { Plan, PlanDispatch } from '../../compiler/plan/types.ts';

export interface Line {
  /** ms per roofline ms. */
  a: number;
  /** ms per dispatch. */
  b: number;
}

export interface KernelTimes {
  /** 'measured' (timestamp queries on this adapter) or 'roofline' (no adapter: the compile profile alone). */
  source: 'measured' | 'roofline';
  /** The adapter the times were measured on. */
  adapter: string;
  /** Signature → median ms of one dispatch. */
  bySignature: Record<string, number>;
  /** Kernel family → fitted line. */
  byFamily: Record<string, Line>;
  overall: Line;
  /** Host and submission time per dispatch, ms (0 where none was measured). */
  overheadMsPerDispatch: number;
  /** How many dispatch timings the model was fitted on. */
  samples: number;
}

/** What a dispatch's time depends on: the kernel (its key carries config and shapes) and the grid. */
export function dispatchSignature(plan: Plan, d: PlanDispatch): string {
  return `${plan.kernels[d.kernel]!.key}@${d.workgroups.join('x')}`;
}

/** The compile profile's roofline time of one dispatch, ms. */
export function rooflineMs(d: PlanDispatch, caps: CompileCaps): number {
  return 1000 * dispatchSeconds(d.flops, d.bytes, caps);
}

/** One timed dispatch of a calibration run. */
export interface TimedDispatch {
  signature: string;
  family: string;
  roofMs: number;
  ms: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Least squares ms = a·roof + b, with a and b kept ≥ 0 (a constant where the roofline does not vary). */
export function fitLine(points: readonly { x: number; y: number }[]): Line {
  const n = points.length;
  if (n === 0) return { a: 1, b: 0 };
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
  }
  if (sxx <= 1e-18 * Math.max(1, mx * mx)) return mx > 0 ? { a: my / mx, b: 0 } : { a: 0, b: my };
  let a = sxy / sxx;
  let b = my - a * mx;
  if (a < 0) {
    a = 0;
    b = my;
  } else if (b < 0) {
    b = 0;
    a = points.reduce((s, p) => s + p.x * p.y, 0) / Math.max(1e-18, points.reduce((s, p) => s + p.x * p.x, 0));
  }
  return { a, b };
}

/** The model fitted to timed dispatches; `wall` relates the no-cache plan's wall-clock to its kernel time. */
export function fitKernelTimes(timed: readonly TimedDispatch[], adapter: string, wall?: { wallMs: number; kernelMs: number; dispatches: number }): KernelTimes {
  const bySig = new Map<string, number[]>();
  const byFam = new Map<string, { x: number; y: number }[]>();
  for (const t of timed) {
    (bySig.get(t.signature) ?? bySig.set(t.signature, []).get(t.signature)!).push(t.ms);
    (byFam.get(t.family) ?? byFam.set(t.family, []).get(t.family)!).push({ x: t.roofMs, y: t.ms });
  }
  const overhead = wall && wall.dispatches > 0 ? Math.max(0, (wall.wallMs - wall.kernelMs) / wall.dispatches) : 0;
  return {
    source: 'measured',
    adapter,
    bySignature: Object.fromEntries([...bySig].map(([k, v]) => [k, median(v)])),
    byFamily: Object.fromEntries([...byFam].map(([k, v]) => [k, fitLine(v)])),
    overall: fitLine(timed.map((t) => ({ x: t.roofMs, y: t.ms }))),
    overheadMsPerDispatch: overhead,
    samples: timed.length,
  };
}

/** The uncalibrated model: the compile profile's roofline, as `plan.cost` prices it. */
export function rooflineKernelTimes(): KernelTimes {
  return { source: 'roofline', adapter: 'none (compile profile roofline)', bySignature: {}, byFamily: {}, overall: { a: 1, b: 0 }, overheadMsPerDispatch: 0, samples: 0 };
}

export interface PlanTime {
  /** Predicted wall-clock ms of one sampling run (all steps, prologue included). */
  ms: number;
  /** Share of the dispatches priced by a measured signature. */
  measuredShare: number;
}

/** Predicted time of a plan under the model. */
export function predictPlan(plan: Plan, times: KernelTimes, caps: CompileCaps): PlanTime {
  const bodyMs = (dispatches: readonly PlanDispatch[]) => {
    let ms = 0;
    let measured = 0;
    let counted = 0;
    for (const d of dispatches) {
      // A dynamic step's skipped path costs nothing; a static plan has no guards.
      if (d.guard?.when === 'reuse') continue;
      counted++;
      const sig = times.bySignature[dispatchSignature(plan, d)];
      if (sig !== undefined) {
        ms += sig;
        measured++;
      } else {
        const line = times.byFamily[plan.kernels[d.kernel]!.family] ?? times.overall;
        ms += line.a * rooflineMs(d, caps) + line.b;
      }
      ms += times.overheadMsPerDispatch;
    }
    return { ms, measured, counted };
  };
  const bodies = plan.bodies.map((b) => bodyMs(b.dispatches));
  let ms = bodyMs(plan.prologue.dispatches).ms;
  let measured = 0;
  let counted = 0;
  for (const b of plan.stepBody) {
    ms += bodies[b]!.ms;
    measured += bodies[b]!.measured;
    counted += bodies[b]!.counted;
  }
  return { ms, measuredShare: counted ? measured / counted : 0 };
}
