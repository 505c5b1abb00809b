/**
 * The interpreter of forward plans (`mode: 'forward'`). `createForwardRunner` does the fixed work
 * once (buffers, weights, pipelines, bind groups); `forward(inputs)` checks the inputs against the
 * plan (names, shapes, dtypes), writes them, runs the body once in one command buffer and reads
 * every output back.
 */
import { DittoError } from '../../core/errors.ts';
import { intTensor, numel, shapeString, tensor, type Tensor } from '../../core/tensor.ts';
import type { ForwardPlan, ForwardTensor } from '../../compiler/plan/types.ts';
import { awaitGpu, createGpu, type DeviceOptions, type GpuContext } from '../device.ts';
import { readBack, upload } from '../gpu/buffers.ts';
import { watchDeviceLoss, withGpuErrors } from '../gpu/errors.ts';
import { encodeDispatch } from './dispatch.ts';
import { createPipelines } from './pipelines.ts';
import { checkPlanWeights, createPlanBuffers, uploadWeights } from './resources.ts';

/** `backend` and `toggles` open a device when `gpu` is not given. */
export interface ForwardRunnerOptions extends DeviceOptions {
  gpu?: GpuContext;
  /** Shown in weight errors. */
  weightsFile?: string;
}

export interface ForwardOutput {
  outputs: Record<string, Tensor>;
  /** Wall time of the GPU work (submit to readback), seconds. */
  seconds: number;
}

export interface ForwardRunner {
  readonly plan: ForwardPlan;
  readonly gpu: GpuContext;
  /** One forward pass: every input of the plan by name → every output by name. */
  forward(inputs: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>;
  /** As `forward`, with the time. */
  run(inputs: Readonly<Record<string, Tensor>>): Promise<ForwardOutput>;
  destroy(): void;
}

/** Checks `inputs` against the plan's: every declared input present, none extra, shapes and dtypes equal. */
export function checkForwardInputs(plan: ForwardPlan, inputs: Readonly<Record<string, Tensor>>): void {
  const names = plan.io.inputs.map((i) => i.name);
  const problems: string[] = [];
  for (const name of Object.keys(inputs)) {
    if (!names.includes(name)) problems.push(`unexpected input '${name}'`);
  }
  for (const want of plan.io.inputs) {
    const t = inputs[want.name];
    if (!t) {
      problems.push(`missing input '${want.name}' ${want.dtype}${shapeString(want.shape)}`);
      continue;
    }
    if (t.shape.length !== want.shape.length || t.shape.some((d, k) => d !== want.shape[k])) {
      problems.push(`input '${want.name}' is ${shapeString(t.shape)}, the plan expects ${shapeString(want.shape)}`);
    } else if (t.dtype !== want.dtype) {
      problems.push(`input '${want.name}' is ${t.dtype}, the plan expects ${want.dtype}`);
    }
  }
  if (problems.length) {
    throw new DittoError('E_INPUT', `the inputs do not fit the forward plan of ${plan.model.name} (it takes ${plan.io.inputs.map((i) => `${i.name} ${i.dtype}${shapeString(i.shape)}`).join(', ')}):\n  ${problems.join('\n  ')}`);
  }
}

/**
 * `weights` plus the pieces tile-image cut from them (plan buffers derived as `slice`: [start, end)
 * along leading axes of a weight of the file), so the upload finds every buffer's data by name.
 */
export function withWeightSlices(plan: Pick<ForwardPlan, 'buffers'> & { model: { name: string } }, weights: ReadonlyMap<string, Tensor>, file: string): ReadonlyMap<string, Tensor> {
  const pieces = plan.buffers.filter((b) => b.derived?.kind === 'slice' && !weights.has(b.name));
  if (!pieces.length) return weights;
  const out = new Map(weights);
  for (const b of pieces) {
    const d = b.derived as { kind: 'slice'; of: string; ranges: [number, number][] };
    const src = weights.get(d.of);
    const fits = src && d.ranges.length <= src.shape.length && d.ranges.every(([a, e], k) => a >= 0 && a < e && e <= src.shape[k]!);
    if (!src || !fits) {
      throw new DittoError('E_WEIGHTS', `the weights in '${file}' do not fit the plan (${plan.model.name}): ${src ? `tensor ${d.of} is ${shapeString(src.shape)}, too small for the piece ${b.name}` : `missing tensor ${d.of}`}`);
    }
    out.set(b.name, sliceLeading(src, d.ranges));
  }
  return out;
}

/** t[r0, r1, …] for [start, end) ranges of its leading axes (the other axes whole), row-major. */
function sliceLeading(t: Tensor, rs: readonly [number, number][]): Tensor {
  const shape = t.shape.map((dim, k) => (k < rs.length ? rs[k]![1] - rs[k]![0] : dim));
  const inner = t.shape.slice(rs.length).reduce((a, b) => a * b, 1);
  const data = new Float32Array(numel(shape));
  let o = 0;
  const walk = (axis: number, base: number): void => {
    if (axis === rs.length) {
      for (let i = 0; i < inner; i++) data[o++] = t.data[base + i]!;
      return;
    }
    const stride = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    for (let i = rs[axis]![0]; i < rs[axis]![1]; i++) walk(axis + 1, base + i * stride);
  };
  walk(0, 0);
  return tensor(shape, data);
}

export async function createForwardRunner(plan: ForwardPlan, weights: ReadonlyMap<string, Tensor>, opts: ForwardRunnerOptions = {}): Promise<ForwardRunner> {
  if ((plan as { mode?: unknown }).mode !== 'forward') throw new DittoError('E_PLAN', 'plan: mode must be \'forward\' for a forward runner (this is a sampling plan: use ditto run)');
  checkPlanWeights(plan, weights, opts.weightsFile ?? 'the weight file');
  weights = withWeightSlices(plan, weights, opts.weightsFile ?? 'the weight file');
  const gpu = opts.gpu ?? (await createGpu({ backend: opts.backend, toggles: opts.toggles }));
  const { device } = gpu;
  const lost = watchDeviceLoss(device);
  lost.catch(() => undefined);
  const buffers = await withGpuErrors(device, `allocating the forward plan's ${plan.buffers.length} buffers`, () => createPlanBuffers(device, plan));
  await withGpuErrors(device, 'uploading the weights', () => uploadWeights(device, plan, buffers, weights));
  const pipelines = await createPipelines(device, plan);
  const groups = await withGpuErrors(device, 'creating the bind groups', () =>
    plan.body.dispatches.map((d) => device.createBindGroup({
      layout: pipelines[d.kernel]!.layout,
      entries: d.bindings.map((b) => ({ binding: b.binding, resource: { buffer: buffers[b.buffer]!, offset: b.offset, ...(b.size !== undefined ? { size: b.size } : {}) } })),
    })));

  const readOutput = async (o: ForwardTensor): Promise<Tensor> => {
    const raw = await readBack(device, buffers[o.buffer]!, numel(o.shape) * 4);
    return o.dtype === 'i32' ? intTensor(o.shape, new Int32Array(raw)) : tensor(o.shape, new Float32Array(raw));
  };

  const runOnce = async (inputs: Readonly<Record<string, Tensor>>): Promise<ForwardOutput> => {
    checkForwardInputs(plan, inputs);
    const t0 = performance.now();
    await withGpuErrors(device, 'running the forward pass', () => {
      for (const i of plan.io.inputs) {
        const t = inputs[i.name]!;
        upload(device, buffers[i.buffer]!, i.dtype === 'i32' ? Int32Array.from(t.data) : t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
      }
      const enc = device.createCommandEncoder({ label: `forward ${plan.model.name}` });
      const pass = enc.beginComputePass();
      plan.body.dispatches.forEach((d, j) => {
        pass.setPipeline(pipelines[d.kernel]!.pipeline);
        pass.setBindGroup(0, groups[j]!);
        encodeDispatch(pass, d, buffers);
      });
      pass.end();
      device.queue.submit([enc.finish()]);
    });
    await awaitGpu(device.queue.onSubmittedWorkDone());
    const outputs: Record<string, Tensor> = Object.create(null) as Record<string, Tensor>;
    for (const o of plan.io.outputs) outputs[o.name] = await readOutput(o);
    return { outputs, seconds: (performance.now() - t0) / 1000 };
  };
  const run = (inputs: Readonly<Record<string, Tensor>>) => Promise.race([runOnce(inputs), lost]);
  return {
    plan,
    gpu,
    run,
    forward: async (inputs) => (await run(inputs)).outputs,
    destroy: () => {
      for (const b of buffers) b.destroy();
      if (!opts.gpu) device.destroy();
    },
  };
}
