/**
 * The plan interpreter. `createRunner` does everything that does not depend on the request once
 * (device, buffers, weights, params rows, pipelines, bind groups); `run` writes the labels and the
 * noise, encodes the prologue and every sampling step — one command buffer per step, all submitted
 * up front, nothing read back in between — and reads the latent back once at the end.
 */
import { DittoError } from '../../core/errors.ts';
import { numel, tensor, type Tensor } from '../../core/tensor.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { awaitGpu, createGpu, type DeviceOptions, type GpuContext } from '../device.ts';
import { readBack, upload } from '../gpu/buffers.ts';
import { withGpuErrors, watchDeviceLoss } from '../gpu/errors.ts';
import type { RunNoise } from '../sampler/noise.ts';
import { latentShape, resolveClasses, runInputs, runNoise } from './runInputs.ts';
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
  /**
   * Cancels the run: it rejects with DittoError E_ABORTED within a few steps of the abort, and the
   * runner stays usable. With a signal the steps are submitted a few at a time (so that an abort
   * leaves little queued GPU work) instead of all at once.
   */
  signal?: AbortSignal;
  profile?: boolean;
  /** With `profile`: also report every dispatch's time (`profile.dispatches`; the search's kernel-time calibration). */
  profileDispatches?: boolean;
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
  /** Releases the plan's buffers, and the device when the runner opened it; later runs fail with E_USAGE. Idempotent. */
  close(): void;
  /** The same as close(). */
  destroy(): void;
}

/**
 * Builds a plan's pipelines on a device ahead of `createRunner`, which then takes them ready-made
 * (pipelines are shared per device and kernel, runtime/run/pipelines.ts). For a caller that knows
 * its plan before it has the weights: the shader compilation, the slow part of setting up on a
 * software adapter, overlaps whatever it does meanwhile. Resolves when every pipeline is built;
 * rejects as createRunner would on a kernel that does not compile.
 */
export async function preparePipelines(gpu: GpuContext, plan: Pick<Plan, 'kernels'>): Promise<void> {
  await createPipelines(gpu.device, plan);
}

/** Steps in flight at once when a run can be cancelled: enough to keep the GPU fed, few to drain. */
const CANCELLABLE_WINDOW = 4;

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

  let closed = false;
  const run = async (req: RunRequest) => {
    if (closed) throw new DittoError('E_USAGE', 'this runner is closed; create a new one');
    return Promise.race([runPlan(gpu, plan, buffers, pipelines, groups, req), lost]);
  };
  const close = () => {
    if (closed) return;
    closed = true;
    for (const b of buffers) b.destroy();
    if (!opts.gpu) device.destroy();
  };
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
    close,
    destroy: close,
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

async function runPlan(gpu: GpuContext, plan: Plan, buffers: GPUBuffer[], pipelines: KernelPipeline[], groups: BindGroups, req: RunRequest): Promise<RunOutput> {
  const { device } = gpu;
  const S = plan.options.steps;
  const batch = plan.options.batch;
  const shape = latentShape(plan);
  const perImage = shape.slice(1);
  const classes = resolveClasses(plan, req);
  const noise = runNoise(plan, req, perImage);

  // Inputs written once per run: labels ([classes; null × batch] under CFG), x_T, the step noise.
  const inputs = runInputs(plan, classes, noise);
  const writeInitialLatent = () => upload(device, buffers[plan.io.latent]!, inputs.latent);
  await withGpuErrors(device, "writing the run's inputs", () => {
    if (inputs.labels) upload(device, buffers[inputs.labels.buffer]!, inputs.labels.ids);
    writeInitialLatent();
    if (inputs.noise) upload(device, buffers[inputs.noise.buffer]!, inputs.noise.rows);
  });

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

  let hostSeconds = 0;
  if (req.signal) {
    hostSeconds = await submitCancellable(device, S, (bodyIndex, k) => encodeBody(bodyIndex, k), plan.stepBody, req.signal, req.onStep);
  } else {
    const done: Promise<unknown>[] = [];
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
  }
  const raw = new Float32Array(await readBack(device, buffers[plan.io.latent]!, batch * numel(perImage) * 4));
  const seconds = (performance.now() - t0) / 1000;
  const dynamic = plan.dynamic ? await readDynamicStats(device, plan, buffers) : undefined;
  const profile = profiler ? await profiler.report(req.profileDispatches ?? false) : undefined;
  return { latents: tensor([batch, ...perImage], raw), classes, seconds, hostSeconds, work, ...(dynamic ? { dynamic } : {}), ...(profile ? { profile } : {}) };
}

function abortedError(signal: AbortSignal): DittoError {
  const why = signal.reason instanceof Error ? `: ${signal.reason.message}` : typeof signal.reason === 'string' ? `: ${signal.reason}` : '';
  return new DittoError('E_ABORTED', `the run was cancelled${why}`);
}

/**
 * The sampling loop of a run that can be cancelled: at most CANCELLABLE_WINDOW steps queued ahead
 * of the GPU, the signal checked before each submission and after each step completes. Returns the
 * host seconds spent encoding and submitting.
 */
async function submitCancellable(device: GPUDevice, S: number, encodeBody: (bodyIndex: number, k: number) => GPUCommandBuffer, stepBody: readonly number[], signal: AbortSignal, onStep?: (k: number) => void): Promise<number> {
  if (signal.aborted) throw abortedError(signal);
  let hostSeconds = 0;
  const submit = (bodyIndex: number, k: number) => {
    const h0 = performance.now();
    device.queue.submit([encodeBody(bodyIndex, k)]);
    hostSeconds += (performance.now() - h0) / 1000;
  };
  await withGpuErrors(device, 'running the sampling loop', async () => {
    const done: Promise<unknown>[] = [];
    submit(-1, 0);
    let next = 0;
    for (let k = 0; k < S && !signal.aborted; k++) {
      for (; next < S && next < k + CANCELLABLE_WINDOW && !signal.aborted; next++) {
        submit(stepBody[next]!, next);
        done.push(device.queue.onSubmittedWorkDone());
      }
      if (k >= done.length) break;
      await awaitGpu(done[k]!);
      if (!signal.aborted) onStep?.(k);
    }
    // After an abort, let what was queued finish, so that the next run starts on an idle queue.
    if (signal.aborted) await awaitGpu(device.queue.onSubmittedWorkDone());
  });
  if (signal.aborted) throw abortedError(signal);
  return hostSeconds;
}
