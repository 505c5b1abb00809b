/**
 * The data of a plan's weight buffers, independent of any device: the check that a weight file fits
 * the plan, fused concatenations, the derived `pos_embed`, and the storage dtype conversion. Used
 * by the GPU upload (resources.ts) and the CPU plan interpreter (runtime/cpu/).
 */
import { DittoError } from '../../core/errors.ts';
import { numel, shapeString, type Tensor } from '../../core/tensor.ts';
import type { Plan, PlanBuffer } from '../../compiler/plan/types.ts';
import { posEmbed2d } from '../weights/index.ts';
import { f32ToF16Bits } from '../weights/dtypes.ts';

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

export function toDType(values: Float32Array, b: PlanBuffer): Float32Array | Uint16Array | Int32Array {
  if (b.dtype === 'f32') return values;
  if (b.dtype === 'i32') return Int32Array.from(values);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
  return out;
}

export function weightValues(b: PlanBuffer, weights: ReadonlyMap<string, Tensor>): Float32Array {
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
