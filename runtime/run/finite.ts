/**
 * `--check-finite`: runs the prologue and the steps one dispatch at a time, reading back what each
 * dispatch wrote, and stops at the first NaN or Inf with the step and the plan nodes it covers.
 * Slow by design (a debugging aid); the state it leaves is discarded by the caller's real run.
 */
import { DittoError } from '../../core/errors.ts';
import type { Plan, PlanDispatch } from '../../compiler/plan/types.ts';
import type { GpuContext } from '../device.ts';
import { readBack } from '../gpu/buffers.ts';
import type { BindGroups } from './bindGroups.ts';
import type { KernelPipeline } from './pipelines.ts';
import { encodeDispatch } from './dispatch.ts';

function describe(plan: Plan, d: PlanDispatch): string {
  const names = d.covers.map((c) => plan.nodes[c]?.path ?? `${plan.nodes[c]?.op}#${c}`);
  const kernel = plan.kernels[d.kernel]!;
  return `${kernel.family} kernel${names.length ? ` computing ${names.join(', ')}` : ''}${d.note ? ` (${d.note})` : ''}`;
}

export async function findFirstNonFinite(gpu: GpuContext, plan: Plan, buffers: GPUBuffer[], pipelines: KernelPipeline[], groups: BindGroups): Promise<void> {
  const { device } = gpu;
  const run = async (bodyIndex: number, k: number) => {
    const body = bodyIndex < 0 ? plan.prologue : plan.bodies[bodyIndex]!;
    for (let j = 0; j < body.dispatches.length; j++) {
      const d = body.dispatches[j]!;
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipelines[d.kernel]!.pipeline);
      pass.setBindGroup(0, groups.get(bodyIndex, j, d, k));
      encodeDispatch(pass, d, buffers);
      pass.end();
      device.queue.submit([enc.finish()]);
      const kernel = plan.kernels[d.kernel]!;
      for (const b of d.bindings) {
        const kb = kernel.bindings[b.binding]!;
        if (kb.access !== 'read_write' || kb.elemType !== 'f32') continue;
        const buf = plan.buffers[b.buffer]!;
        const size = b.size ?? buf.bytes - b.offset;
        const offset = b.offset + (b.perStep !== undefined ? k * b.perStep : 0);
        const values = new Float32Array(await readBack(device, buffers[b.buffer]!, size, offset));
        const bad = values.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) {
          const where = bodyIndex < 0 ? 'in the prologue' : `at sampling step ${k}`;
          throw new DittoError('E_NUMERIC', `${values[bad]} appears ${where}: the ${describe(plan, d)} wrote it into ${buf.kind} buffer '${buf.name}' (element ${bad})`);
        }
      }
    }
  };
  await run(-1, 0);
  for (let k = 0; k < plan.options.steps; k++) await run(plan.stepBody[k]!, k);
}
