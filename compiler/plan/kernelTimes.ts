/**
 * The calibrated cost model: a plan's own dispatch list priced with kernel times measured on an
 * adapter instead of the compile profile's roofline (plan.cost). Pure data work: measuring the
 * times is the runtime's and evaluation's job (evaluation/search/measure.ts); `ditto search` prices
 * candidates with it, `ditto bench` predicts speed-ups with it, `ditto explain --kernel-times`
 * prints it.
 *
 * Calibration profiles a few short plans (the no-cache plan and probe candidates of the search's
 * kinds) with timestamp queries and records every dispatch's GPU time. A dispatch is then priced
 * by, in order: the median measured time of the same kernel at the same workgroup count (its
 * signature); else a per-kernel-family line fitted to the measurements, ms = a·roofline + b; else
 * the line fitted over all families. Every dispatch adds a fixed host overhead, and every run
 * another, fitted from the probes' unprofiled wall-clock against their profiled kernel time. The model is plain
 * data (saved in the search state, front.json and the bench's report.json), so a resumed search
 * prices candidates exactly as the interrupted one did.
 */
import { dispatchSeconds } from './cost.ts';
import { CAPS_PROFILES, HARDWARE_CAPS, type CompileCaps } from './caps.ts';
import type { Plan, PlanDispatch } from './types.ts';
import { DittoError } from '../../core/errors.ts';
import { readTextOrThrow } from '../../core/files.ts';
import { median } from '../../core/median.ts';

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
  /** Host time per sampling run (noise upload, submission, readback), ms; absent in times measured before it was fitted. */
  overheadMsPerRun?: number;
  /** How many dispatch timings the model was fitted on. */
  samples: number;
  /**
   * The calibrated ms of one all-compute sampling step, by `allComputeKey` of the plans it was
   * priced for (the no-cache plan of the calibration): what `ditto explain --kernel-times` divides
   * by, since a plan holds only the roofline cost of its all-compute step, not its dispatches.
   */
  allComputeStepMs?: Record<string, number>;
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

/** A probe run twice: its unprofiled wall-clock, its profiled kernel time and its dispatches. */
export interface ProbeWall {
  wallMs: number;
  kernelMs: number;
  dispatches: number;
}

/**
 * The model fitted to timed dispatches. `walls` relate each probe's wall-clock to its kernel time:
 * wall − kernel = overhead per dispatch × dispatches + overhead per run, fitted over the probes
 * (one probe gives the per-dispatch overhead alone).
 */
export function fitKernelTimes(timed: readonly TimedDispatch[], adapter: string, walls: readonly ProbeWall[] = []): KernelTimes {
  const bySig = new Map<string, number[]>();
  const byFam = new Map<string, { x: number; y: number }[]>();
  for (const t of timed) {
    (bySig.get(t.signature) ?? bySig.set(t.signature, []).get(t.signature)!).push(t.ms);
    (byFam.get(t.family) ?? byFam.set(t.family, []).get(t.family)!).push({ x: t.roofMs, y: t.ms });
  }
  const points = walls.filter((w) => w.dispatches > 0).map((w) => ({ x: w.dispatches, y: Math.max(0, w.wallMs - w.kernelMs) }));
  const host = points.length > 1 ? fitLine(points) : { a: points.length ? points[0]!.y / points[0]!.x : 0, b: 0 };
  return {
    source: 'measured',
    adapter,
    bySignature: Object.fromEntries([...bySig].map(([k, v]) => [k, median(v)])),
    byFamily: Object.fromEntries([...byFam].map(([k, v]) => [k, fitLine(v)])),
    overall: fitLine(timed.map((t) => ({ x: t.roofMs, y: t.ms }))),
    overheadMsPerDispatch: host.a,
    overheadMsPerRun: host.b,
    samples: timed.length,
  };
}

/** The uncalibrated model: the compile profile's roofline, as `plan.cost` prices it. */
export function rooflineKernelTimes(): KernelTimes {
  return { source: 'roofline', adapter: 'none (compile profile roofline)', bySignature: {}, byFamily: {}, overall: { a: 1, b: 0 }, overheadMsPerDispatch: 0, samples: 0 };
}

export interface PlanTime {
  /** Predicted wall-clock ms of one sampling run (all steps, prologue and the per-run host time included). */
  ms: number;
  /** Of which the sampling steps (the prologue left out, as plan.cost's speed-up does). */
  stepsMs: number;
  /** Share of the dispatches priced by a measured signature. */
  measuredShare: number;
}

/** Predicted ms of one dispatch under the model (host overhead included); `measured` when its signature was timed. */
export function dispatchMs(plan: Plan, d: PlanDispatch, times: KernelTimes, caps: CompileCaps): { ms: number; measured: boolean } {
  const sig = times.bySignature[dispatchSignature(plan, d)];
  if (sig !== undefined) return { ms: sig + times.overheadMsPerDispatch, measured: true };
  const line = times.byFamily[plan.kernels[d.kernel]!.family] ?? times.overall;
  return { ms: line.a * rooflineMs(d, caps) + line.b + times.overheadMsPerDispatch, measured: false };
}

/** Predicted time of a plan under the model: the sum over its dispatches, each step's body once per step. */
export function predictPlan(plan: Plan, times: KernelTimes, caps: CompileCaps): PlanTime {
  const bodyMs = (dispatches: readonly PlanDispatch[]) => {
    let ms = 0;
    let measured = 0;
    let counted = 0;
    for (const d of dispatches) {
      // A dynamic step's skipped path costs nothing; a static plan has no guards.
      if (d.guard?.when === 'reuse') continue;
      const p = dispatchMs(plan, d, times, caps);
      counted++;
      ms += p.ms;
      if (p.measured) measured++;
    }
    return { ms, measured, counted };
  };
  const bodies = plan.bodies.map((b) => bodyMs(b.dispatches));
  let stepsMs = 0;
  let measured = 0;
  let counted = 0;
  for (const b of plan.stepBody) {
    stepsMs += bodies[b]!.ms;
    measured += bodies[b]!.measured;
    counted += bodies[b]!.counted;
  }
  return { ms: (times.overheadMsPerRun ?? 0) + bodyMs(plan.prologue.dispatches).ms + stepsMs, stepsMs, measuredShare: counted ? measured / counted : 0 };
}

/**
 * What decides a plan's all-compute step: the lowered graph (model, parameters, batch), the kernel
 * profile and the options that change its kernels. Plans of one model at one batch share it.
 */
export function allComputeKey(plan: Plan): string {
  const o = plan.options;
  return `${plan.model.graphHash.slice(0, 16)} ${o.caps} ${o.f16 ? 'f16' : 'f32'} ${o.sampler} cfg=${o.cfgScale === null ? 'none' : 'on'}/${o.guide}`;
}

/** The times with the no-cache plan's calibrated all-compute step recorded (see `allComputeStepMs`). */
export function withAllComputeStep(times: KernelTimes, noCache: Plan, caps: CompileCaps): KernelTimes {
  const t = predictPlan(noCache, times, caps);
  return { ...times, allComputeStepMs: { ...times.allComputeStepMs, [allComputeKey(noCache)]: t.stepsMs / noCache.stepBody.length } };
}

/**
 * The kernel times held by a JSON value read from `where`: a search's front.json or
 * search-state.json, or a bench's report.json (`kernelTimes` at the top or under `data`).
 * Throws a user error naming `where` and the first thing wrong.
 */
export function kernelTimesIn(value: unknown, where: string): KernelTimes {
  const bad = (why: string): never => {
    throw new DittoError('E_INPUT', `${where}: ${why}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(value)) bad('not a JSON object holding "kernelTimes" (front.json or search-state.json of a search, report.json of a bench)');
  const v = value as Record<string, unknown>;
  const t = v['kernelTimes'] ?? (isObj(v['data']) ? v['data']['kernelTimes'] : undefined);
  if (t === undefined || t === null) bad('no "kernelTimes" (front.json or search-state.json of a search, report.json of a bench hold them)');
  if (!isObj(t)) bad('"kernelTimes" is not an object');
  const k = t as Record<string, unknown>;
  const num = (x: unknown, name: string, min = 0): number => {
    if (typeof x !== 'number' || !Number.isFinite(x) || x < min) bad(`kernelTimes.${name} must be a finite number ≥ ${min}, got ${JSON.stringify(x)}`);
    return x as number;
  };
  const line = (x: unknown, name: string): Line => {
    if (!isObj(x)) bad(`kernelTimes.${name} must be a line {a, b}, got ${JSON.stringify(x)}`);
    const l = x as Record<string, unknown>;
    return { a: num(l['a'], `${name}.a`), b: num(l['b'], `${name}.b`) };
  };
  const record = <T>(x: unknown, name: string, each: (y: unknown, n: string) => T): Record<string, T> => {
    if (!isObj(x)) bad(`kernelTimes.${name} must be an object, got ${JSON.stringify(x)}`);
    return Object.fromEntries(Object.entries(x as Record<string, unknown>).map(([key, y]) => [key, each(y, `${name}["${key}"]`)]));
  };
  if (k['source'] !== 'measured' && k['source'] !== 'roofline') bad(`kernelTimes.source must be 'measured' or 'roofline', got ${JSON.stringify(k['source'])}`);
  if (typeof k['adapter'] !== 'string') bad('kernelTimes.adapter must be a string');
  const samples = num(k['samples'], 'samples');
  if (!Number.isInteger(samples)) bad(`kernelTimes.samples must be a whole number, got ${samples}`);
  return {
    source: k['source'] as KernelTimes['source'],
    adapter: k['adapter'] as string,
    bySignature: record(k['bySignature'], 'bySignature', num),
    byFamily: record(k['byFamily'], 'byFamily', line),
    overall: line(k['overall'], 'overall'),
    overheadMsPerDispatch: num(k['overheadMsPerDispatch'], 'overheadMsPerDispatch'),
    ...(k['overheadMsPerRun'] !== undefined ? { overheadMsPerRun: num(k['overheadMsPerRun'], 'overheadMsPerRun') } : {}),
    samples,
    ...(k['allComputeStepMs'] !== undefined ? { allComputeStepMs: record(k['allComputeStepMs'], 'allComputeStepMs', num) } : {}),
  };
}

/** The kernel times of a JSON file (see `kernelTimesIn`); errors name the file, and `flag` where one gave it. */
export function readKernelTimesFile(file: string, flag = 'kernel times'): KernelTimes {
  const where = `${flag} '${file}'`;
  const text = readTextOrThrow(file, flag);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new DittoError('E_INPUT', `${where}: not valid JSON (${(e as Error).message})`);
  }
  return kernelTimesIn(data, where);
}

/** The roofline a plan was priced on at compile time (its caps profile), for the dispatches the times did not measure. */
export function rooflineCapsOf(plan: Plan): CompileCaps {
  return CAPS_PROFILES[plan.options.caps] ?? HARDWARE_CAPS;
}

/** A plan under a kernel-times table: what `ditto explain --kernel-times` prints and `--json` adds. */
export interface CalibratedPrediction {
  /** The adapter the times were measured on ('measured') or 'roofline'. */
  adapter: string;
  source: KernelTimes['source'];
  /** Predicted ms of one run (prologue included), of its sampling steps, and per step. */
  msPerRun: number;
  stepsMs: number;
  perStepMs: number[];
  measuredShare: number;
  /** The calibrated all-compute step and speed-up; null where the times hold none for this model, batch and options. */
  allComputeStepMs: number | null;
  speedup: number | null;
}

export function calibratedPrediction(plan: Plan, times: KernelTimes): CalibratedPrediction {
  const caps = rooflineCapsOf(plan);
  const t = predictPlan(plan, times, caps);
  const bodyMs = plan.bodies.map((b) => b.dispatches.reduce((ms, d) => (d.guard?.when === 'reuse' ? ms : ms + dispatchMs(plan, d, times, caps).ms), 0));
  const step = times.allComputeStepMs?.[allComputeKey(plan)];
  return {
    adapter: times.adapter, source: times.source, msPerRun: t.ms, stepsMs: t.stepsMs, perStepMs: plan.stepBody.map((b) => bodyMs[b]!), measuredShare: t.measuredShare,
    allComputeStepMs: step ?? null, speedup: step === undefined ? null : (plan.stepBody.length * step) / t.stepsMs,
  };
}
