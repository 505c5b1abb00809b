/**
 * Calibrating the cost model on this adapter: a few short probe plans (the no-cache plan and
 * candidates of the search's own kinds, evaluation/search/probes.ts) are run at the timing batch
 * with timestamp queries on every dispatch; the no-cache probe first, once untimed before (the JIT
 * of the kernels all plans share). Each probe then runs once without timestamps: the wall-clock
 * against the kernel time, over probes of different dispatch counts, gives the host time per
 * dispatch and per run.
 */
import type { Tensor } from '../../core/tensor.ts';
import type { CompileCaps } from '../../compiler/plan/caps.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { createRunner } from '../../runtime/run/runner.ts';
import { dispatchSignature, fitKernelTimes, rooflineMs, type KernelTimes, type TimedDispatch } from '../../compiler/plan/kernelTimes.ts';

export interface Probe {
  name: string;
  /** Compiles the probe at the timing batch (steps chosen by the caller). */
  plan: () => Plan;
}

export interface MeasureOptions {
  gpu: GpuContext;
  weights: ReadonlyMap<string, Tensor>;
  weightsFile: string;
  caps: CompileCaps;
  /** probes[0] must be the no-cache plan. */
  probes: readonly Probe[];
  onProbe?: (done: number, total: number, name: string) => void;
}

export async function measureKernelTimes(o: MeasureOptions): Promise<KernelTimes> {
  const timed: TimedDispatch[] = [];
  const walls: { wallMs: number; kernelMs: number; dispatches: number }[] = [];
  for (const [i, probe] of o.probes.entries()) {
    o.onProbe?.(i, o.probes.length, probe.name);
    const plan = probe.plan();
    const runner = await createRunner(plan, o.weights, { gpu: o.gpu, weightsFile: o.weightsFile });
    try {
      // The first probe pays the JIT of the kernels every plan shares; later probes add few new ones.
      if (i === 0) await runner.run({ seed: 0 });
      const out = await runner.run({ seed: 0, profile: true, profileDispatches: true });
      for (const d of out.profile?.dispatches ?? []) {
        const dispatch = (d.body < 0 ? plan.prologue : plan.bodies[d.body]!).dispatches[d.index]!;
        timed.push({ signature: dispatchSignature(plan, dispatch), family: plan.kernels[dispatch.kernel]!.family, roofMs: rooflineMs(dispatch, o.caps), ms: d.ms });
      }
      // Every probe once more without timestamps: its wall-clock against its kernel time, over
      // probes of different dispatch counts, separates a host time per dispatch from one per run.
      const plain = await runner.run({ seed: 0 });
      walls.push({ wallMs: plain.seconds * 1000, kernelMs: out.profile?.totalMs ?? 0, dispatches: out.profile?.dispatches?.length ?? 0 });
    } finally {
      runner.destroy();
    }
  }
  o.onProbe?.(o.probes.length, o.probes.length, '');
  return fitKernelTimes(timed, o.gpu.report.name, walls);
}
