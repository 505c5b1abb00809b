/**
 * The summary `ditto run` prints (text, or JSON with --json; fields documented in docs/cli.md).
 */
import type { Tensor } from '../core/tensor.ts';
import type { Plan } from '../compiler/plan/types.ts';
import type { RunOutput } from '../runtime/run/runner.ts';
import type { ProfileReport } from '../runtime/run/profile.ts';
import { psnr, relativeL2, ssim } from '../evaluation/metrics/fidelity.ts';

export interface Fidelity {
  psnr: number | null;
  relativeL2: number;
  ssim: number | null;
}

export interface RunSummary {
  plan: { hash: string; model: string; schedule: string; steps: number; sampler: string; cfgScale: number | null };
  adapter: string;
  images: number;
  classes: number[];
  seconds: number;
  secondsPerImage: number;
  work: RunOutput['work'];
  /** Per dynamic rule: steps that reused / computed, as decided on the GPU (dynamic plans only). */
  dynamic?: NonNullable<RunOutput['dynamic']>;
  predictedSpeedup: number;
  flopsRatio: number;
  peakMemoryBytes: number;
  baseline?: { schedule: string; seconds: number; measuredSpeedup: number; predictedSpeedup: number; efficiency: number; fidelity: Fidelity };
  outputs: { png?: string; latents?: string };
  /** With --vae: the decoder and the seconds it took to decode every image (after sampling). */
  vae?: { model: string; seconds: number };
  profile?: ProfileReport;
}

const SSIM_WINDOW = 11;

/** Fidelity of `a` to `ref`; SSIM only where the images are at least one window wide. PSNR of identical outputs is null (∞). */
export function fidelityOf(a: Tensor, ref: Tensor): Fidelity {
  const p = psnr(a, ref);
  const big = (a.shape[2] ?? 0) >= SSIM_WINDOW && (a.shape[3] ?? 0) >= SSIM_WINDOW;
  return { psnr: Number.isFinite(p) ? p : null, relativeL2: relativeL2(a, ref), ssim: big ? ssim(a, ref) : null };
}

export function runSummary(
  plan: Plan,
  out: RunOutput,
  extra: { baseline?: { plan: Plan; seconds: number; fidelity: Fidelity }; outputs: RunSummary['outputs']; adapter: string; vae?: RunSummary['vae'] },
): RunSummary {
  const images = out.latents.shape[0] ?? 0;
  const b = extra.baseline;
  return {
    plan: { hash: plan.hash, model: plan.model.name, schedule: plan.schedule.name, steps: plan.options.steps, sampler: plan.options.sampler, cfgScale: plan.options.cfgScale },
    adapter: extra.adapter,
    images,
    classes: out.classes,
    seconds: out.seconds,
    secondsPerImage: images ? out.seconds / images : 0,
    work: out.work,
    ...(out.dynamic ? { dynamic: out.dynamic } : {}),
    predictedSpeedup: plan.cost.predictedSpeedup,
    flopsRatio: plan.cost.flopsRatio,
    peakMemoryBytes: plan.cost.peakMemoryBytes,
    ...(b
      ? {
          baseline: {
            schedule: b.plan.schedule.name,
            seconds: b.seconds,
            measuredSpeedup: b.seconds / out.seconds,
            predictedSpeedup: plan.cost.predictedSpeedup / b.plan.cost.predictedSpeedup,
            efficiency: b.seconds / out.seconds / (plan.cost.predictedSpeedup / b.plan.cost.predictedSpeedup),
            fidelity: b.fidelity,
          },
        }
      : {}),
    outputs: extra.outputs,
    ...(extra.vae ? { vae: extra.vae } : {}),
    ...(out.profile ? { profile: out.profile } : {}),
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function formatRunSummary(s: RunSummary): string {
  const w = s.work;
  const lines = [
    `ran ${s.plan.model} · schedule ${s.plan.schedule} · ${s.plan.steps} ${s.plan.sampler} steps${s.plan.cfgScale !== null ? ` · cfg ${s.plan.cfgScale}` : ''} on ${s.adapter}`,
    `time       ${s.seconds.toFixed(2)} s for ${s.images} image${s.images === 1 ? '' : 's'} (${s.secondsPerImage.toFixed(2)} s per image)`,
    `work       ${w.computed} node-steps computed, ${w.partial ? `${w.partial} partial, ` : ''}${w.reused} reused, ${w.residual} residual, ${w.forecast} forecast, ${w.dead} dead; ${w.dispatches} dispatches`,
    ...(w.cfgCached ? [`cfg_cache  ${w.cfgCached} step${w.cfgCached === 1 ? '' : 's'} ran the conditional half only (the unconditional output from the stored frequency bands)`] : []),
    `predicted  ${s.predictedSpeedup.toFixed(2)}x against all-compute (FLOPs ratio ${s.flopsRatio.toFixed(3)}), peak memory ${(s.peakMemoryBytes / 2 ** 20).toFixed(1)} MiB`,
  ];
  for (const d of s.dynamic ?? []) {
    const measure = d.metric === 'transform_rate' ? `transform_rate(${d.signal.replace(/\.residual$/, '')})` : `rel_l1(${d.signal})`;
    const counts = (c: { reusedSteps: number; computedSteps: number }) => `${c.reusedSteps} step${c.reusedSteps === 1 ? '' : 's'} reused, ${c.computedSteps} computed`;
    const per = d.uncond ? `cond ${counts(d)}; uncond ${counts(d.uncond)} (decided per branch on the GPU)` : `${counts(d)} (decided on the GPU)`;
    lines.push(`dynamic    rule ${d.rule} (${measure} < ${d.threshold}): ${per}`);
  }
  if (s.baseline) {
    const b = s.baseline;
    const f = b.fidelity;
    lines.push(
      `baseline   ${b.schedule}: ${b.seconds.toFixed(2)} s → measured ${b.measuredSpeedup.toFixed(2)}x vs predicted ${b.predictedSpeedup.toFixed(2)}x (${pct(b.efficiency)} of the saving became time)`,
      `fidelity   PSNR ${f.psnr === null ? '∞ (identical)' : `${f.psnr.toFixed(2)} dB`}, relative L2 ${f.relativeL2.toExponential(2)}${f.ssim !== null ? `, SSIM ${f.ssim.toFixed(4)}` : ''}`,
    );
  }
  if (s.vae) lines.push(`decoded    ${s.images} image${s.images === 1 ? '' : 's'} with ${s.vae.model} in ${s.vae.seconds.toFixed(2)} s`);
  if (s.outputs.png) lines.push(`wrote      ${s.outputs.png}`);
  if (s.outputs.latents) lines.push(`wrote      ${s.outputs.latents}`);
  if (s.profile) {
    const p = s.profile;
    lines.push(`profile    ${p.totalMs.toFixed(1)} ms of kernel time`);
    lines.push('  by family:');
    for (const r of p.byFamily) lines.push(`    ${r.name.padEnd(24)} ${r.ms.toFixed(2).padStart(10)} ms  ${pct(r.share).padStart(6)}  ×${r.count}`);
    lines.push('  top kernels:');
    for (const r of p.topKernels) lines.push(`    ${r.name.padEnd(24)} ${r.ms.toFixed(2).padStart(10)} ms  ${pct(r.share).padStart(6)}  ×${r.count}`);
    lines.push('  top nodes:');
    for (const r of p.byNode.slice(0, 10)) lines.push(`    ${r.name.padEnd(24)} ${r.ms.toFixed(2).padStart(10)} ms  ${pct(r.share).padStart(6)}`);
  }
  return lines.join('\n') + '\n';
}
