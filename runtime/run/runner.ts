/**
 * The plan interpreter. `createRunner` does everything that does not depend on the request once
 * (device, buffers, weights, params rows, pipelines, bind groups); `run` writes the labels and the
 * noise, encodes the prologue and every sampling step — one command buffer per step, all submitted
 * up front, nothing read back in between — and reads the latent back once at the end.
 */
import { DittoError } from '../../core/errors.ts';
import { numel, shapeString, tensor, type Tensor } from '../../core/tensor.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { awaitGpu, createGpu, type DeviceOptions, type GpuContext } from '../device.ts';
import { readBack, upload } from '../gpu/buffers.ts';
import { withGpuErrors, watchDeviceLoss } from '../gpu/errors.ts';
import { noiseForRun, type RunNoise } from '../sampler/noise.ts';
import { BindGroups } from './bindGroups.ts';
import { createPipelines, type KernelPipeline } from './pipelines.ts';
import { checkPlanWeights, createPlanBuffers, uploadParams, uploadWeights } from './resources.ts';
import { planWorkStats, type NodeWorkStats } from './stats.ts';
import { Profiler, type ProfileReport } from './profile.ts';
import { findFirstNonFinite } from './finite.ts';
import { encodeDispatch } from './dispatch.ts';
import { readDynamicStats, type DynamicRunStats } from './dynamicStats.ts';

/** `backend` and `toggles` open a device when `gpu` is not given. */
export interface RunnerOptions extends DeviceOptions {
  gpu?: GpuContext;
  /** Shown in weight errors. */
  weightsFile?: string;
}

export interface RunRequest {
  seed: number;
  /** One class id per image (class-conditional models); default: 0, 1, 2, … modulo the classes. */
  classes?: number[];
  /** Noise supplied by the caller instead of the seeded generator. */
  noise?: RunNoise;
  /** Called as each sampling step finishes on the GPU (no readback involved). */
  onStep?: (k: number) => void;
  profile?: boolean;
  /** Run dispatch by dispatch and stop at the first one that writes a NaN or Inf. */
  checkFinite?: boolean;
}

export interface RunOutput {
  /** The sampler state after the last step, [batch, C, H, W] (the conditional half under CFG). */
  latents: Tensor;
  classes: number[];
  seconds: number;
  /**
   * Host time spent encoding and submitting the prologue and every step's command buffer (wall
   * seconds inside the encode/submit loop, not waiting for the GPU). Divided by the step count it
   * is the host overhead per step that the benchmark reports. Always set by the runner (optional
   * only so that hand-made RunOutputs in tests stay valid).
   */
  hostSeconds?: number;
  work: NodeWorkStats;
  /** Per dynamic rule of the plan: how many steps reused and how many computed, as decided on the
   *  GPU (read once after the last step). Absent for static plans. */
  dynamic?: DynamicRunStats[];
  profile?: ProfileReport;
}

export interface Runner {
  readonly plan: Plan;
  readonly gpu: GpuContext;
  run(req: RunRequest): Promise<RunOutput>;
  /**
   * Runs the prologue and every distinct step body once, so that the adapter compiles each
   * pipeline (lavapipe JIT-compiles at the first dispatch) before anything is timed. The sampler
   * state it leaves behind is overwritten by the next `run`.
   */
  warmUp(): Promise<void>;
  destroy(): void;
}

export async function createRunner(plan: Plan, weights: ReadonlyMap<string, Tensor>, opts: RunnerOptions = {}): Promise<Runner> {
  checkPlanWeights(plan, weights, opts.weightsFile ?? 'the weight file');
  const gpu = opts.gpu ?? (await createGpu({ backend: opts.backend, toggles: opts.toggles }));
  const { device } = gpu;
  const lost = watchDeviceLoss(device);
  lost.catch(() => undefined);
  const buffers = await withGpuErrors(device, `allocating the plan's ${plan.buffers.length} buffers`, () => createPlanBuffers(device, plan));
  await withGpuErrors(device, 'uploading the weights', () => {
    uploadWeights(device, plan, buffers, weights);
    uploadParams(device, plan, buffers);
  });
  // Pipeline creation reports its own failures (compile messages, rejected promises).
  const pipelines = await createPipelines(device, plan);
  const groups = new BindGroups(device, plan, buffers, pipelines);
  await withGpuErrors(device, 'creating the bind groups', () => groups.prebuild());

  const run = (req: RunRequest) => Promise.race([runPlan(gpu, plan, buffers, pipelines, groups, req), lost]);
  const warmUp = async () => {
    const firstUse = new Map<number, number>();
    plan.stepBody.forEach((b, k) => firstUse.has(b) || firstUse.set(b, k));
    const enc = device.createCommandEncoder({ label: 'warm-up' });
    for (const [bodyIndex, k] of [[-1, 0] as const, ...firstUse]) encodeBodyPass(enc, plan, bodyIndex, k, pipelines, groups, buffers);
    await withGpuErrors(device, 'warming up the kernels', () => device.queue.submit([enc.finish()]));
    await awaitGpu(device.queue.onSubmittedWorkDone());
  };
  return {
    plan,
    gpu,
    run,
    warmUp,
    destroy: () => {
      for (const b of buffers) b.destroy();
      if (!opts.gpu) device.destroy();
    },
  };
}

/** One compute pass with every dispatch of a body (bodyIndex −1 = the prologue) as run at step k. */
function encodeBodyPass(enc: GPUCommandEncoder, plan: Plan, bodyIndex: number, k: number, pipelines: KernelPipeline[], groups: BindGroups, buffers: GPUBuffer[]): void {
  const body = bodyIndex < 0 ? plan.prologue : plan.bodies[bodyIndex]!;
  const pass = enc.beginComputePass();
  body.dispatches.forEach((d, j) => {
    pass.setPipeline(pipelines[d.kernel]!.pipeline);
    pass.setBindGroup(0, groups.get(bodyIndex, j, d, k));
    encodeDispatch(pass, d, buffers);
  });
  pass.end();
}

function latentShape(plan: Plan): number[] {
  const shape = plan.buffers[plan.io.latent]!.shape;
  if (!shape || shape.length !== 4) throw new DittoError('E_PLAN', `plan buffer ${plan.io.latent} (latent) has no [B, C, H, W] shape`);
  return shape;
}

function resolveClasses(plan: Plan, req: RunRequest): number[] {
  const batch = plan.options.batch;
  const labels = plan.io.labels;
  const classCount = plan.model.params.classes ?? 0;
  if (!labels) {
    if (req.classes?.length) throw new DittoError('E_USAGE', `model ${plan.model.name} takes no class labels, but classes were given`);
    return [];
  }
  const classes = req.classes ?? Array.from({ length: batch }, (_, i) => (classCount > 0 ? i % classCount : 0));
  if (classes.length !== batch) {
    throw new DittoError('E_USAGE', `the plan was compiled for ${batch} image${batch === 1 ? '' : 's'} per run, but ${classes.length} class${classes.length === 1 ? ' was' : 'es were'} given (recompile with --batch ${classes.length})`);
  }
  classes.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || (classCount > 0 && c >= classCount)) {
      throw new DittoError('E_USAGE', `class ${i + 1} is ${c}; model ${plan.model.name} has classes 0..${classCount - 1}`);
    }
  });
  return classes;
}

/** The per-image noise of the run (initial latent + one tensor per step), checked against the plan. */
function runNoise(plan: Plan, req: RunRequest, perImage: number[]): RunNoise {
  const batch = plan.options.batch;
  const S = plan.options.steps;
  const noise = req.noise ?? noiseForRun(req.seed, batch, perImage, S);
  const want = [batch, ...perImage];
  const ok = (t: Tensor) => t.shape.length === want.length && t.shape.every((d, i) => d === want[i]);
  if (!ok(noise.initial)) throw new DittoError('E_INPUT', `the initial noise is ${shapeString(noise.initial.shape)}, the plan needs ${shapeString(want)}`);
  if (noise.steps.length < S - 1) throw new DittoError('E_INPUT', `the noise holds ${noise.steps.length} step tensors, the plan runs ${S} steps and needs ${S - 1}`);
  noise.steps.slice(0, S - 1).forEach((t, k) => {
    if (!ok(t)) throw new DittoError('E_INPUT', `step noise ${k} is ${shapeString(t.shape)}, the plan needs ${shapeString(want)}`);
  });
  return noise;
}

/** Repeats `rows` (batch rows of `per` values) to fill `total` values (the CFG halves share noise). */
function tile(data: Float32Array, total: number): Float32Array {
  if (data.length === total) return data;
  const out = new Float32Array(total);
  for (let o = 0; o < total; o += data.length) out.set(data.subarray(0, Math.min(data.length, total - o)), o);
  return out;
}

async function runPlan(gpu: GpuContext, plan: Plan, buffers: GPUBuffer[], pipelines: KernelPipeline[], groups: BindGroups, req: RunRequest): Promise<RunOutput> {
  const { device } = gpu;
  const S = plan.options.steps;
  const batch = plan.options.batch;
  const shape = latentShape(plan);
  const perImage = shape.slice(1);
  const classes = resolveClasses(plan, req);
  const noise = runNoise(plan, req, perImage);

  // Inputs written once per run: labels ([classes; null × batch] under CFG), x_T, the step noise.
  if (plan.io.labels) {
    const lb = plan.buffers[plan.io.labels.buffer]!;
    const n = lb.shape?.[0] ?? batch;
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[i] = i < batch ? classes[i]! : (plan.io.labels.nullClass ?? classes[i % batch]!);
    upload(device, buffers[lb.id]!, ids);
  }
  const writeInitialLatent = () => upload(device, buffers[plan.io.latent]!, tile(noise.initial.data as Float32Array, numel(shape)));
  writeInitialLatent();
  if (plan.noise) {
    const nb = plan.buffers[plan.noise.buffer]!;
    const stride = nb.rowStride! / 4;
    const rowLen = numel(plan.noise.rowShape);
    const data = new Float32Array(nb.bytes / 4);
    for (let k = 0; k < S - 1; k++) data.set(tile(noise.steps[k]!.data as Float32Array, rowLen), k * stride);
    upload(device, buffers[nb.id]!, data);
  }

  const work = planWorkStats(plan);
  if (req.checkFinite) {
    await findFirstNonFinite(gpu, plan, buffers, pipelines, groups);
    writeInitialLatent(); // the check advanced the sampler state; start the real run afresh
  }
  const profiler = req.profile ? new Profiler(gpu, plan) : undefined;

  const t0 = performance.now();
  const encodeBody = (bodyIndex: number, k: number) => {
    const body = bodyIndex < 0 ? plan.prologue : plan.bodies[bodyIndex]!;
    const enc = device.createCommandEncoder({ label: bodyIndex < 0 ? 'prologue' : `step ${k}` });
    if (profiler) {
      profiler.encode(enc, body, bodyIndex, k, pipelines, groups, buffers);
    } else {
      encodeBodyPass(enc, plan, bodyIndex, k, pipelines, groups, buffers);
    }
    return enc.finish();
  };

  const done: Promise<unknown>[] = [];
  let hostSeconds = 0;
  await withGpuErrors(device, 'running the sampling loop', () => {
    // Timed inside the callback: the error-scope pops that follow wait for the GPU.
    const h0 = performance.now();
    device.queue.submit([encodeBody(-1, 0)]);
    for (let k = 0; k < S; k++) {
      device.queue.submit([encodeBody(plan.stepBody[k]!, k)]);
      if (req.onStep) done.push(device.queue.onSubmittedWorkDone());
    }
    hostSeconds = (performance.now() - h0) / 1000;
  });
  for (let k = 0; k < done.length; k++) {
    await awaitGpu(done[k]!);
    req.onStep?.(k);
  }
  const raw = new Float32Array(await readBack(device, buffers[plan.io.latent]!, batch * numel(perImage) * 4));
  const seconds = (performance.now() - t0) / 1000;
  const dynamic = plan.dynamic ? await readDynamicStats(device, plan, buffers) : undefined;
  const profile = profiler ? await profiler.report() : undefined;
  return { latents: tensor([batch, ...perImage], raw), classes, seconds, hostSeconds, work, ...(dynamic ? { dynamic } : {}), ...(profile ? { profile } : {}) };
}
