/**
 * The plan's buffer table made real: one GPUBuffer per plan buffer, weights uploaded (fused
 * concatenations assembled, f16 converted, derived `pos_embed` computed when the file lacks it),
 * and the per-step sampler parameter rows written once.
 */
import { DittoError } from '../../core/errors.ts';
import { numel, shapeString, type Tensor } from '../../core/tensor.ts';
import type { Plan, PlanBuffer } from '../../compiler/plan/types.ts';
import { posEmbed2d } from '../weights/index.ts';
import { f32ToF16Bits } from '../weights/dtypes.ts';
import { upload } from '../gpu/buffers.ts';

// STORAGE | UNIFORM | COPY_DST | COPY_SRC: every plan buffer can be bound either way and read back.
const USAGE = 0x80 | 0x40 | 0x08 | 0x04;
// INDIRECT: the dynamic_decide kernel writes the workgroup counts of guarded dispatches here.
const INDIRECT = 0x100;

export function createPlanBuffers(device: GPUDevice, plan: Pick<Plan, 'buffers'>): GPUBuffer[] {
  return plan.buffers.map((b) =>
    device.createBuffer({ size: Math.max(16, Math.ceil(b.bytes / 16) * 16), usage: b.kind === 'indirect' ? USAGE | INDIRECT : USAGE, label: `${b.kind}:${b.name}` }),
  );
}

/** Checks that the weight file provides every weight the plan reads, with the plan's shapes. */
export function checkPlanWeights(plan: Pick<Plan, 'buffers'> & { model: { name: string } }, weights: ReadonlyMap<string, Tensor>, file: string): void {
  const problems: string[] = [];
  const expect = (name: string, shape: readonly number[], optional: boolean) => {
    const t = weights.get(name);
    if (!t) {
      if (!optional) problems.push(`missing tensor ${name} ${shapeString(shape)}`);
    } else if (numel(t.shape) !== numel(shape) || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`tensor ${name} is ${shapeString(t.shape)}, the plan expects ${shapeString(shape)}`);
    }
  };
  for (const b of plan.buffers) {
    if (b.kind === 'weight') expect(b.name, b.shape ?? [], b.derived !== undefined);
    if (b.kind === 'fused_weight') for (const s of b.sources ?? []) expect(s.name, s.shape, false);
  }
  if (problems.length) {
    throw new DittoError('E_WEIGHTS', `the weights in '${file}' do not fit the plan (${plan.model.name}):\n  ${problems.join('\n  ')}`);
  }
}

function toDType(values: Float32Array, b: PlanBuffer): Float32Array | Uint16Array | Int32Array {
  if (b.dtype === 'f32') return values;
  if (b.dtype === 'i32') return Int32Array.from(values);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
  return out;
}

function weightValues(b: PlanBuffer, weights: ReadonlyMap<string, Tensor>): Float32Array {
  if (b.kind === 'fused_weight') {
    const total = (b.sources ?? []).reduce((m, s) => Math.max(m, s.offset + numel(s.shape)), 0);
    const out = new Float32Array(total);
    for (const s of b.sources ?? []) out.set(weights.get(s.name)!.data as Float32Array, s.offset);
    return out;
  }
  const t = weights.get(b.name);
  if (t) return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  if (b.derived?.kind === 'pos_embed_2d') return posEmbed2d(b.derived.dim, b.derived.grid);
  throw new DittoError('E_INTERNAL', `weight ${b.name} has no data`);
}

export function uploadWeights(device: GPUDevice, plan: Pick<Plan, 'buffers'>, buffers: GPUBuffer[], weights: ReadonlyMap<string, Tensor>): void {
  for (const b of plan.buffers) {
    if (b.kind !== 'weight' && b.kind !== 'fused_weight') continue;
    upload(device, buffers[b.id]!, toDType(weightValues(b, weights), b));
  }
}

/** Writes the sampler's per-step parameter rows, `rowStride` bytes apart. */
export function uploadParams(device: GPUDevice, plan: Plan, buffers: GPUBuffer[]): void {
  const pb = plan.buffers.find((b) => b.kind === 'params');
  if (!pb) return;
  const stride = pb.rowStride! / 4;
  const data = new Float32Array(pb.bytes / 4);
  plan.sampler.rows.forEach((row, k) => data.set(row, k * stride));
  upload(device, buffers[pb.id]!, data);
}
