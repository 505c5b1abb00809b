/**
 * The plan interpreter on the CPU: runs a compiled plan's dispatch list — the same buffers, bindings,
 * offsets, per-step rows and indirect (dynamic) dispatches the GPU runner encodes — with each kernel
 * family's plain TypeScript definition (runtime/cpu/families/). It is for semantics, not speed: a
 * plan that runs here equals the reference executor unless a compiler pass is wrong, and the GPU
 * equals this unless a kernel is wrong (test/cpu/).
 */
import { DittoError } from '../../core/errors.ts';
import { numel, tensor, type Tensor } from '../../core/tensor.ts';
import type { ForwardPlan, Plan, PlanBody, PlanBuffer, PlanDispatch, PlanKernel } from '../../compiler/plan/types.ts';
import type { RunNoise } from '../sampler/noise.ts';
import { f16ToF32 } from '../weights/dtypes.ts';
import { withWeightSlices } from '../run/forwardRunner.ts';
import { latentShape, paramRows, resolveClasses, runInputs, runNoise } from '../run/runInputs.ts';
import { checkPlanWeights, toDType, weightValues } from '../run/weightData.ts';
import { cpuKernel, type Elements } from './families/index.ts';

/** One plan buffer in host memory: its bytes, seen as f32 and i32, and — for f16 weights — widened to f32 once. */
interface HostBuffer {
  bytes: ArrayBuffer;
  widened?: Float32Array;
}

export class CpuPlanMemory {
  readonly buffers: HostBuffer[];

  constructor(readonly plan: { buffers: PlanBuffer[]; kernels: PlanKernel[] }) {
    this.buffers = plan.buffers.map((b) => ({ bytes: new ArrayBuffer(Math.max(16, Math.ceil(b.bytes / 16) * 16)) }));
  }

  write(id: number, data: Float32Array | Int32Array | Uint16Array): void {
    const b = this.buffers[id]!;
    new Uint8Array(b.bytes).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (this.plan.buffers[id]!.dtype === 'f16') b.widened = f16ToF32(new Uint16Array(b.bytes, 0, Math.floor(b.bytes.byteLength / 2)));
  }

  f32(id: number): Float32Array {
    return new Float32Array(this.buffers[id]!.bytes);
  }

  /** The elements binding `j` of dispatch `d` sees at step k. */
  private view(d: PlanDispatch, kernel: PlanKernel, j: number, k: number): Elements {
    const bind = d.bindings[j]!;
    const b = this.buffers[bind.buffer]!;
    const offset = bind.offset + (bind.perStep ?? 0) * k;
    const type = kernel.bindings[j]!.elemType;
    if (type === 'f16') {
      if (!b.widened || offset % 2) throw new DittoError('E_PLAN', `dispatch of kernel ${d.kernel} binds buffer ${bind.buffer} as f16, but it holds no f16 data at byte ${offset}`);
      return b.widened.subarray(offset / 2);
    }
    if (offset % 4) throw new DittoError('E_PLAN', `dispatch of kernel ${d.kernel} binds buffer ${bind.buffer} at byte ${offset}, not a multiple of 4`);
    return type === 'i32' ? new Int32Array(b.bytes, offset) : new Float32Array(b.bytes, offset);
  }

  /** Runs every dispatch of a body as at step k; an indirect dispatch whose argument triple holds a zero is skipped. */
  runBody(body: PlanBody, k: number): void {
    for (const d of body.dispatches) {
      if (d.indirect) {
        const args = new Int32Array(this.buffers[d.indirect.buffer]!.bytes, d.indirect.offset, 3);
        if (args[0] === 0 || args[1] === 0 || args[2] === 0) continue;
      }
      const kernel = this.plan.kernels[d.kernel];
      if (!kernel) throw new DittoError('E_PLAN', `a dispatch names kernel ${d.kernel}, which the plan does not have`);
      const views = d.bindings.map((_, j) => this.view(d, kernel, j, k));
      cpuKernel(kernel.family)(kernel.config, views);
    }
  }

  uploadWeights(weights: ReadonlyMap<string, Tensor>): void {
    for (const b of this.plan.buffers) {
      if (b.kind === 'weight' || b.kind === 'fused_weight') this.write(b.id, toDType(weightValues(b, weights), b));
    }
  }
}

export interface CpuRunRequest {
  seed: number;
  classes?: number[];
  noise?: RunNoise;
  /** Called after each sampling step k has run. */
  onStep?: (k: number) => void;
}

export interface CpuRunOutput {
  /** [batch, C, H, W], the conditional half under CFG. */
  latents: Tensor;
  classes: number[];
  /** Per dynamic rule: steps that reused and computed, as the plan's decide dispatches counted them. */
  dynamic?: { rule: number; signal: string; threshold: number; reusedSteps: number; computedSteps: number; uncond?: { reusedSteps: number; computedSteps: number } }[];
}

/** Runs a sampling plan on the CPU: prologue once, then each step's body, then reads the latent. */
export function runPlanOnCpu(plan: Plan, weights: ReadonlyMap<string, Tensor>, req: CpuRunRequest): CpuRunOutput {
  checkPlanWeights(plan, weights, 'the weight file');
  const mem = new CpuPlanMemory(plan);
  mem.uploadWeights(weights);
  const params = paramRows(plan);
  if (params) mem.write(params.buffer, params.data);
  const shape = latentShape(plan);
  const perImage = shape.slice(1);
  const classes = resolveClasses(plan, req);
  const inputs = runInputs(plan, classes, runNoise(plan, req, perImage));
  if (inputs.labels) mem.write(inputs.labels.buffer, inputs.labels.ids);
  mem.write(plan.io.latent, inputs.latent);
  if (inputs.noise) mem.write(inputs.noise.buffer, inputs.noise.rows);

  mem.runBody(plan.prologue, 0);
  plan.stepBody.forEach((b, k) => {
    const body = plan.bodies[b];
    if (!body) throw new DittoError('E_PLAN', `step ${k} runs body ${b}, which the plan does not have`);
    mem.runBody(body, k);
    req.onStep?.(k);
  });

  const batch = plan.options.batch;
  const latents = tensor([batch, ...perImage], mem.f32(plan.io.latent).slice(0, batch * numel(perImage)));
  const dyn = plan.dynamic;
  if (!dyn) return { latents, classes };
  const state = mem.f32(dyn.state);
  const computed = dyn.stateFields.indexOf('computed');
  return {
    latents,
    classes,
    dynamic: dyn.rules.map((r) => ({
      rule: r.rule, signal: r.signal, threshold: r.threshold, reusedSteps: Math.round(state[r.reusedSteps / 4]!), computedSteps: Math.round(state[r.stateOffset / 4 + computed]!),
      ...(r.perBranch ? { uncond: { reusedSteps: Math.round(state[r.perBranch.reusedSteps / 4]!), computedSteps: Math.round(state[r.perBranch.stateOffset / 4 + computed]!) } } : {}),
    })),
  };
}

/** Runs a forward plan on the CPU: writes the inputs, runs the body once, returns every output. */
export function runForwardPlanOnCpu(plan: ForwardPlan, weights: ReadonlyMap<string, Tensor>, inputs: Record<string, Tensor>): Record<string, Tensor> {
  checkPlanWeights(plan, weights, 'the weight file');
  const mem = new CpuPlanMemory(plan);
  mem.uploadWeights(withWeightSlices(plan, weights, 'the weight file'));
  for (const io of plan.io.inputs) {
    const t = inputs[io.name];
    if (!t || numel(t.shape) !== numel(io.shape)) throw new DittoError('E_INPUT', `forward plan input '${io.name}' needs ${io.dtype}[${io.shape.join(', ')}]`);
    mem.write(io.buffer, io.dtype === 'i32' ? Int32Array.from(t.data) : Float32Array.from(t.data));
  }
  mem.runBody(plan.body, 0);
  const out: Record<string, Tensor> = {};
  for (const io of plan.io.outputs) out[io.name] = tensor(io.shape, mem.f32(io.buffer).slice(0, numel(io.shape)));
  return out;
}
