/**
 * The front half of an evaluation: lower the model for the requested batch, check that it makes
 * pictures, and resolve every schedule for the requested step count, with errors that say which
 * `--schedules` entry is wrong and why.
 */
import { DittoError } from '../../core/errors.ts';
import path from 'node:path';
import { openModel, scheduleFor, type SourceModel } from '../../compiler/compileSource.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import type { SamplerKind } from '../../compiler/passes/options.ts';

export const BASELINE_NAME = 'no cache';

export interface EvalSetup {
  /** The model lowered for the batch, what every row's plan compiles from. */
  model: SourceModel;
  graph: Graph;
  /** [C, H, W] of one image. */
  imageShape: [number, number, number];
  /** The model's class count (0: unconditional). */
  classes: number;
  /** Row 0 is the baseline (no schedule: every node computes at every step). */
  rows: { name: string; schedule?: ScheduleIR }[];
}

export interface SetupRequest {
  modelFile: string;
  model?: string;
  set?: Record<string, number>;
  schedules: readonly string[];
  steps: number;
  /** The sampler of every row: a schedule made for another (`sampler ddim`) is refused here. */
  sampler: SamplerKind;
  batch: number;
  cfg: boolean;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new DittoError('E_USAGE', message);
}

/** [C, H, W] of the model's image input `x`. */
export function imageShapeOf(graph: Graph): [number, number, number] {
  const x = graph.inputs.find((i) => i.name === 'x');
  const shape = x ? graph.nodes[x.node]!.shape : [];
  if (shape.length !== 4) throw new DittoError('E_USAGE', `model ${graph.model} has no image input x [B, C, H, W]; eval samples images`);
  return [shape[1]!, shape[2]!, shape[3]!];
}

export function setupEval(req: SetupRequest): EvalSetup {
  check(Number.isInteger(req.steps) && req.steps >= 1, `steps must be a whole number ≥ 1, got ${req.steps}`);
  check(Number.isInteger(req.batch) && req.batch >= 1, `batch must be a whole number ≥ 1, got ${req.batch}`);
  const model = openModel(req.modelFile, { model: req.model, set: req.set, batch: req.batch, cfg: req.cfg });
  const { program, graph } = model;
  const imageShape = imageShapeOf(graph);
  const c = imageShape[0];
  if (c !== 1 && c !== 3) {
    // `fmnist.ditto` without --model lowers the imported base DiT; point at the file's variants.
    const all = [...program.variants.entries()];
    const own = all.filter(([, v]) => path.resolve(v.file) === path.resolve(req.modelFile));
    const variants = req.model === undefined ? (own.length ? own : all).map(([name]) => name) : [];
    const hint = variants.length ? `; without --model the file's base model ${graph.model} was used — did you mean --model ${variants.slice(0, 5).join(' / ')}?` : '';
    throw new DittoError(
      'E_USAGE',
      `model ${req.model ?? graph.model} samples ${c}-channel latents, not pictures: eval measures images (1 or 3 channels), so it takes pixel-space models only (e.g. models/fmnist.ditto --model DiT-FMNIST)${hint}`,
    );
  }
  const rows: EvalSetup['rows'] = [{ name: BASELINE_NAME }];
  for (const spec of req.schedules) {
    check(spec !== BASELINE_NAME, `--schedules: '${BASELINE_NAME}' is the baseline every eval runs; list only cache schedules`);
    rows.push({ name: spec, schedule: scheduleFor(model, spec, req.steps, { flag: '--schedules', sampler: req.sampler }) });
  }
  return { model, graph, imageShape, classes: graph.params['classes'] ?? 0, rows };
}
