/**
 * Encoding one plan dispatch: direct, or — for the guarded work of a dynamic step — indirect, with
 * the workgroup counts the step's dynamic_decide kernel wrote on the GPU (zeros skip it).
 */
import type { PlanDispatch } from '../../compiler/plan/types.ts';

export function encodeDispatch(pass: GPUComputePassEncoder, d: PlanDispatch, buffers: readonly GPUBuffer[]): void {
  if (d.indirect) pass.dispatchWorkgroupsIndirect(buffers[d.indirect.buffer]!, d.indirect.offset);
  else pass.dispatchWorkgroups(...d.workgroups);
}
