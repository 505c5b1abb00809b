/**
 * What a sampling run writes into a plan's buffers before step 0, as host arrays (the GPU runner
 * uploads them; the CPU plan interpreter copies them): the class labels, the initial latent x_T,
 * the per-step noise rows and the sampler's per-step parameter rows — each checked against the plan.
 */
import { DittoError } from '../../core/errors.ts';
import { numel, shapeString, type Tensor } from '../../core/tensor.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { noiseForRun, type RunNoise } from '../sampler/noise.ts';

export function latentShape(plan: Plan): number[] {
  const shape = plan.buffers[plan.io.latent]!.shape;
  if (!shape || shape.length !== 4) throw new DittoError('E_PLAN', `plan buffer ${plan.io.latent} (latent) has no [B, C, H, W] shape`);
  return shape;
}

export function resolveClasses(plan: Plan, req: { seed: number; classes?: number[]; noise?: RunNoise }): number[] {
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
export function runNoise(plan: Plan, req: { seed: number; classes?: number[]; noise?: RunNoise }, perImage: number[]): RunNoise {
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

export interface RunInputs {
  labels?: { buffer: number; ids: Int32Array };
  /** x_T for the latent buffer. */
  latent: Float32Array;
  noise?: { buffer: number; rows: Float32Array };
}

export function runInputs(plan: Plan, classes: readonly number[], noise: RunNoise): RunInputs {
  const S = plan.options.steps;
  const batch = plan.options.batch;
  const out: RunInputs = { latent: tile(noise.initial.data as Float32Array, numel(latentShape(plan))) };
  if (plan.io.labels) {
    const lb = plan.buffers[plan.io.labels.buffer]!;
    const n = lb.shape?.[0] ?? batch;
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[i] = i < batch ? classes[i]! : (plan.io.labels.nullClass ?? classes[i % batch]!);
    out.labels = { buffer: lb.id, ids };
  }
  if (plan.noise) {
    const nb = plan.buffers[plan.noise.buffer]!;
    const stride = nb.rowStride! / 4;
    const rowLen = numel(plan.noise.rowShape);
    const rows = new Float32Array(nb.bytes / 4);
    for (let k = 0; k < S - 1; k++) rows.set(tile(noise.steps[k]!.data as Float32Array, rowLen), k * stride);
    out.noise = { buffer: nb.id, rows };
  }
  return out;
}

/** The sampler's per-step parameter rows, `rowStride` bytes apart (undefined: the plan has none). */
export function paramRows(plan: Plan): { buffer: number; data: Float32Array } | undefined {
  const pb = plan.buffers.find((b) => b.kind === 'params');
  if (!pb) return undefined;
  const stride = pb.rowStride! / 4;
  const data = new Float32Array(pb.bytes / 4);
  plan.sampler.rows.forEach((row, k) => data.set(row, k * stride));
  return { buffer: pb.id, data };
}
