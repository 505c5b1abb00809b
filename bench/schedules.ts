/**
 * The schedule benchmark behind `ditto bench`: the all-compute baseline and every listed cache
 * schedule, compiled for one model and one adapter, each warmed up (every pipeline compiled by the
 * adapter's JIT) and then run R times interleaved (A B C A B C …) with the same seed and classes.
 *
 * Per schedule it returns what a user chooses a schedule by: wall-clock per image, measured
 * against predicted speed-up, fidelity to the baseline's output from
 * the same noise, the planned peak memory and the host's share of each step. Rounds alternate
 * their order (A B C, C B A, …) so that a load drifting over the bench is not charged to the
 * schedules that run late in a round.
 *
 * The predicted speed-up is the calibrated cost model's (compiler/plan/kernelTimes.ts): kernel
 * times measured on this adapter, before the timed rounds, on the search's probe plans at this
 * model and batch (evaluation/search/probes.ts) — not on the plans being timed, so a realised
 * ratio near 1 says the model predicts, not that it was fitted to the answer. The compile
 * profile's roofline prediction (plan.cost) is reported beside it.
 */
import { DittoError } from '../core/errors.ts';
import type { Tensor } from '../core/tensor.ts';
import { openModel, planFor, scheduleFor, type SourceModel } from '../compiler/compileSource.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import type { ScheduleIR } from '../compiler/ir/schedule.ts';
import { DEFAULT_SAMPLER } from '../compiler/passes/options.ts';
import { compileCapsFor } from '../compiler/plan/caps.ts';
import { predictPlan, withAllComputeStep, type KernelTimes } from '../compiler/plan/kernelTimes.ts';
import type { Plan } from '../compiler/plan/types.ts';
import type { GpuContext } from '../runtime/device.ts';
import type { ScheduleComparisonInput } from '../evaluation/eval/types.ts';
import { measureKernelTimes } from '../evaluation/search/measure.ts';
import { calibrationProbes } from '../evaluation/search/probes.ts';
import { psnr, relativeL2, ssim } from '../evaluation/metrics/fidelity.ts';
import { createRunner, type RunOutput, type Runner } from '../runtime/run/runner.ts';
import type { ProfileReport } from '../runtime/run/profile.ts';
import { interleave, realisedRatio, realisedSavingShare, speedup, summarize, type Summary } from './stats.ts';

export const BASELINE_ROW = 'no cache';
const SSIM_WINDOW = 11;

export interface ScheduleBenchConfig extends ScheduleComparisonInput {
  /** The model already opened from `modelFile` for this batch and CFG (else it is opened here). */
  source?: SourceModel;
  steps: number;
  /** Images per run (the plan's batch; classes 0, 1, 2, … modulo the model's classes). */
  images: number;
  runs: number;
  cfgScale?: number;
  sampler?: 'ddpm' | 'ddim';
  seed: number;
  gpu: GpuContext;
  /** Kernel times to predict with (an earlier bench's report.json, a search's front.json); default: measured here on the probe plans. */
  kernelTimes?: KernelTimes;
  /** After the timed rounds, one more run of each plan with timestamp queries (`--profile`). */
  profile?: boolean;
  onProgress?: (line: string) => void;
}

export interface Fidelity {
  /** dB; +∞ when the output is bit-identical to the baseline's. */
  psnr: number;
  relativeL2: number;
  /** Only for pixel-space models (1 or 3 channels) at least 11 px wide; null otherwise. */
  ssim: number | null;
}

export interface ScheduleRow {
  name: string;
  /** The resolved schedule's name ('none' for the baseline). */
  schedule: string;
  planHash: string;
  compileSeconds: number;
  warmUpSeconds: number;
  /** Wall seconds per image of each timed run, in round order. */
  samples: number[];
  perImage: Summary;
  /** Baseline median / this median. */
  speedup: number;
  /** Baseline time / this time within each round (how much the drift between rounds moved it). */
  roundSpeedups: number[];
  /** The calibrated cost model's: the all-compute plan's predicted time / this plan's, whole runs. */
  predictedSpeedup: number;
  /** The compile profile's roofline (plan.cost.predictedSpeedup), for comparison. */
  rooflineSpeedup: number;
  /** Predicted ms of one run under the calibrated model, and the share of its dispatches priced by a measured kernel time. */
  predictedMs: number;
  measuredShare: number;
  flopsRatio: number;
  /** measured / predicted (calibrated) speed-up. */
  realised: number;
  /** measured / roofline speed-up. */
  realisedRoofline: number;
  /** Share of the predicted time saving that became wall-clock time (NaN without a saving). */
  savingShare: number;
  fidelity: Fidelity;
  peakMemoryBytes: number;
  /** Median host encode+submit seconds per step, and its share of the median step time. */
  hostPerStepSeconds: number;
  hostShare: number;
  /** Dispatches per run, from the plan (how much work the schedule removed). */
  dispatches: number;
  /** GPU time per kernel family of one profiled run (only with `profile`; untimed otherwise). */
  profile?: ProfileReport;
}

export interface ScheduleBenchResult {
  model: string;
  graph: Graph;
  pixelSpace: boolean;
  /** [C, H, W] of one output. */
  outputShape: number[];
  rows: ScheduleRow[];
  caps: string;
  /** The kernel times the predictions come from, with the all-compute step of this model recorded. */
  kernelTimes: KernelTimes;
  /** 'measured here' (probe plans of this run) or 'given' (cfg.kernelTimes). */
  kernelTimesOrigin: 'measured here' | 'given';
}

function usage(ok: boolean, message: string): void {
  if (!ok) throw new DittoError('E_USAGE', message);
}

/**
 * PSNR with the reference's own value range as the peak: for latents, whose scale is the model's
 * (a random-weight DiT's final latents span hundreds), the [-1, 1] image convention says nothing.
 */
export function psnrToRange(out: Tensor, ref: Tensor): number {
  let lo = Infinity;
  let hi = -Infinity;
  let se = 0;
  for (let i = 0; i < ref.data.length; i++) {
    const r = ref.data[i]!;
    lo = Math.min(lo, r);
    hi = Math.max(hi, r);
    const d = out.data[i]! - r;
    se += d * d;
  }
  const mse = se / ref.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10(((hi - lo) || 1) ** 2 / mse);
}

/** Pixel-space outputs: image PSNR (range [-1, 1]) and SSIM; latents: PSNR against their own range. */
export function fidelityTo(out: Tensor, ref: Tensor, pixelSpace: boolean): Fidelity {
  const wide = (out.shape[2] ?? 0) >= SSIM_WINDOW && (out.shape[3] ?? 0) >= SSIM_WINDOW;
  return {
    psnr: pixelSpace ? psnr(out, ref) : psnrToRange(out, ref),
    relativeL2: relativeL2(out, ref),
    ssim: pixelSpace && wide ? ssim(out, ref) : null,
  };
}

function dispatchCount(plan: Plan): number {
  return plan.prologue.dispatches.length + plan.stepBody.reduce((n, b) => n + plan.bodies[b]!.dispatches.length, 0);
}

export async function runScheduleBench(cfg: ScheduleBenchConfig): Promise<ScheduleBenchResult> {
  const whole = (flag: string, v: number, min: number) => usage(Number.isInteger(v) && v >= min, `${flag} must be a whole number ≥ ${min}, got ${v}`);
  whole('--steps', cfg.steps, 1);
  whole('--images', cfg.images, 1);
  whole('--runs', cfg.runs, 1);
  usage(cfg.cfgScale === undefined || Number.isFinite(cfg.cfgScale), `--cfg must be a finite number, got ${cfg.cfgScale}`);
  usage(!cfg.schedules.includes(BASELINE_ROW), `--schedules: '${BASELINE_ROW}' is the baseline every bench runs; list only cache schedules`);
  const log = cfg.onProgress ?? (() => undefined);

  const model = cfg.source ?? openModel(cfg.modelFile, { model: cfg.model, set: cfg.set, batch: cfg.images, cfg: cfg.cfgScale !== undefined });
  const { graph } = model;
  // Every schedule is resolved before anything slow happens: a bad name fails in a second.
  const specs: { name: string; schedule?: ScheduleIR }[] = [{ name: BASELINE_ROW }, ...cfg.schedules.map((s) => ({ name: s, schedule: scheduleFor(model, s, cfg.steps, { flag: '--schedules', sampler: cfg.sampler ?? DEFAULT_SAMPLER }) }))];
  const caps = compileCapsFor(cfg.gpu.report);
  const planOptions = { sampler: cfg.sampler ?? DEFAULT_SAMPLER, caps, ...(cfg.cfgScale !== undefined ? { cfgScale: cfg.cfgScale } : {}) } as const;

  // Kernel times first: the probes also pay most of the adapter's shader JIT.
  let times = cfg.kernelTimes;
  if (!times) {
    const probes = calibrationProbes(cfg.modelFile, model, planOptions, cfg.seed);
    times = await measureKernelTimes({
      gpu: cfg.gpu, weights: cfg.weights, weightsFile: cfg.weightsFile, caps, probes,
      onProbe: (done, total, name) => log(done < total ? `kernel times: probe ${done + 1}/${total} (${name})` : `kernel times: measured on ${total} probe plans`),
    });
  }

  const prepared: { name: string; plan: Plan; runner: Runner; compileSeconds: number; warmUpSeconds: number }[] = [];
  try {
    for (const s of specs) {
      const t0 = performance.now();
      const { plan } = planFor(model, s.schedule, { ...planOptions, steps: cfg.steps });
      const t1 = performance.now();
      const runner = await createRunner(plan, cfg.weights, { gpu: cfg.gpu, weightsFile: cfg.weightsFile });
      prepared.push({ name: s.name, plan, runner, compileSeconds: (t1 - t0) / 1000, warmUpSeconds: 0 });
      const t2 = performance.now();
      await runner.warmUp();
      prepared[prepared.length - 1]!.warmUpSeconds = (performance.now() - t2) / 1000;
      log(`${s.name}: compiled in ${((t1 - t0) / 1000).toFixed(1)} s, predicted speed-up ${(predictPlan(prepared[0]!.plan, times, caps).ms / predictPlan(plan, times, caps).ms).toFixed(2)}× (roofline ${plan.cost.predictedSpeedup.toFixed(2)}×), warmed up in ${((performance.now() - t2) / 1000).toFixed(1)} s`);
    }

    const classCount = graph.params['classes'] ?? 0;
    const classes = graph.inputs.some((i) => i.name === 'y') ? Array.from({ length: cfg.images }, (_, i) => (classCount > 0 ? i % classCount : 0)) : undefined;
    const outputs = prepared.map(() => [] as RunOutput[]);
    // runner.warmUp() already paid every pipeline's JIT, so no untimed rounds are needed.
    const timed = await interleave(prepared.map((p, i) => ({
      name: p.name,
      run: async () => {
        outputs[i]!.push(await p.runner.run({ seed: cfg.seed, ...(classes ? { classes } : {}) }));
      },
    })), {
      warmup: 0,
      runs: cfg.runs,
      alternate: true,
      onSample: (name, round, ms) => log(`${name} run ${round + 1}/${cfg.runs}: ${(ms / 1000).toFixed(2)} s`),
    });

    // Profiling puts every dispatch in its own pass with timestamps, which changes the timing: it
    // runs after the timed rounds, once per plan, and only its per-family split is reported.
    const profiles: (ProfileReport | undefined)[] = [];
    for (const p of prepared) {
      if (!cfg.profile) break;
      const out = await p.runner.run({ seed: cfg.seed, ...(classes ? { classes } : {}), profile: true });
      profiles.push(out.profile);
      log(`${p.name}: profiled, ${out.profile ? (out.profile.totalMs / 1000).toFixed(2) : '?'} s of kernel time`);
    }

    const baseOut = outputs[0]![0]!.latents;
    const pixelSpace = baseOut.shape[1] === 1 || baseOut.shape[1] === 3;
    const perImage = timed.map((t) => t.samples.map((ms) => ms / 1000 / cfg.images));
    const baseSummary = summarize(perImage[0]!);
    const kernelTimes = times;
    const baseMs = predictPlan(prepared[0]!.plan, kernelTimes, caps).ms;
    const rows: ScheduleRow[] = prepared.map((p, i) => {
      const summary = summarize(perImage[i]!);
      const sp = speedup(baseSummary, summary);
      const priced = predictPlan(p.plan, kernelTimes, caps);
      const predicted = baseMs / priced.ms;
      const roofline = p.plan.cost.predictedSpeedup;
      const host = summarize(outputs[i]!.map((o) => (o.hostSeconds ?? Number.NaN) / cfg.steps));
      const step = summarize(outputs[i]!.map((o) => o.seconds / cfg.steps));
      return {
        name: p.name,
        schedule: p.plan.schedule.name,
        planHash: p.plan.hash,
        compileSeconds: p.compileSeconds,
        warmUpSeconds: p.warmUpSeconds,
        samples: perImage[i]!,
        perImage: summary,
        speedup: sp,
        roundSpeedups: perImage[i]!.map((t, r) => perImage[0]![r]! / t),
        predictedSpeedup: predicted,
        rooflineSpeedup: roofline,
        predictedMs: priced.ms,
        measuredShare: priced.measuredShare,
        flopsRatio: p.plan.cost.flopsRatio,
        realised: realisedRatio(sp, predicted),
        realisedRoofline: realisedRatio(sp, roofline),
        savingShare: realisedSavingShare(sp, predicted),
        fidelity: fidelityTo(outputs[i]![0]!.latents, baseOut, pixelSpace),
        peakMemoryBytes: p.plan.cost.peakMemoryBytes,
        hostPerStepSeconds: host.median,
        hostShare: host.median / step.median,
        dispatches: dispatchCount(p.plan),
        ...(profiles[i] ? { profile: profiles[i] } : {}),
      };
    });
    return {
      model: cfg.model ?? graph.model, graph, pixelSpace, outputShape: baseOut.shape.slice(1), rows, caps: caps.name,
      kernelTimes: withAllComputeStep(kernelTimes, prepared[0]!.plan, caps), kernelTimesOrigin: cfg.kernelTimes ? 'given' : 'measured here',
    };
  } finally {
    for (const p of prepared) p.runner.destroy();
  }
}
