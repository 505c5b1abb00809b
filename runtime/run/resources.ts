/**
 * The plan's buffer table made real: one GPUBuffer per plan buffer, weights uploaded (fused
 * concatenations assembled, f16 converted, derived `pos_embed` computed when the file lacks it),
 * and the per-step sampler parameter rows written once.
 */
import type { Tensor } from '../../core/tensor.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { checkPlanWeights, toDType, weightValues } from './weightData.ts';
import { upload } from '../gpu/buffers.ts';
import { paramRows } from './runInputs.ts';

// STORAGE | UNIFORM | COPY_DST | COPY_SRC: every plan buffer can be bound either way and read back.
const USAGE = 0x80 | 0x40 | 0x08 | 0x04;
// INDIRECT: the dynamic_decide kernel writes the workgroup counts of guarded dispatches here.
const INDIRECT = 0x100;

export { checkPlanWeights };

export function createPlanBuffers(device: GPUDevice, plan: Pick<Plan, 'buffers'>): GPUBuffer[] {
  return plan.buffers.map((b) =>
    device.createBuffer({ size: Math.max(16, Math.ceil(b.bytes / 16) * 16), usage: b.kind === 'indirect' ? USAGE | INDIRECT : USAGE, label: `${b.kind}:${b.name}` }),
  );
}

export function uploadWeights(device: GPUDevice, plan: Pick<Plan, 'buffers'>, buffers: GPUBuffer[], weights: ReadonlyMap<string, Tensor>): void {
  for (const b of plan.buffers) {
    if (b.kind !== 'weight' && b.kind !== 'fused_weight') continue;
    upload(device, buffers[b.id]!, toDType(weightValues(b, weights), b));
  }
}

/** Writes the sampler's per-step parameter rows. */
export function uploadParams(device: GPUDevice, plan: Plan, buffers: GPUBuffer[]): void {
  const rows = paramRows(plan);
  if (rows) upload(device, buffers[rows.buffer]!, rows.data);
}
