/** Shared set-up of the eval tests: the FMNIST model with random weights, small runs. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../../core/tensor.ts';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { randomWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { expect } from 'vitest';
import { DittoError } from '../../core/errors.ts';
import { runEval } from '../../evaluation/eval/evaluate.ts';
import type { EvalConfig, EvalReport } from '../../evaluation/eval/types.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FMNIST = path.join(ROOT, 'models/fmnist.ditto');
export const MODEL = 'DiT-FMNIST';

let cached: Map<string, Tensor> | undefined;

/** Random weights of DiT-FMNIST (the numbers mean nothing; the pipeline is what is tested). */
export function fmnistRandomWeights(): Map<string, Tensor> {
  cached ??= randomWeights(graphWeights(lowerModel(loadProgram(FMNIST), { model: MODEL, batch: 1 })), 11);
  return cached;
}

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'ditto-eval-'));
}

/** Writes the random weights to a file in `dir` for spawned processes. */
export function writeRandomWeightsFile(dir: string): string {
  const file = path.join(dir, 'fmnist-random.safetensors');
  writeSafetensors(file, fmnistRandomWeights());
  return file;
}

/** A tiny evaluation: 4 samples in batches of 2, 3 DDPM steps, no CFG. */
export function tinyConfig(over: Partial<EvalConfig> = {}): EvalConfig {
  return {
    modelFile: FMNIST,
    model: MODEL,
    weights: fmnistRandomWeights(),
    weightsFile: 'random',
    schedules: ['none', 'fora(N=2)'],
    samples: 4,
    steps: 3,
    sampler: 'ddpm',
    batch: 2,
    seed: 5,
    device: 'reference',
    ...over,
  };
}

/** The DittoError `runEval(cfg)` fails with (the test fails if it succeeds or throws anything else). */
export async function evalError(cfg: EvalConfig): Promise<DittoError> {
  try {
    await runEval(cfg);
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    return e as DittoError;
  }
  throw new Error('runEval did not fail');
}

/** Every number of a report that does not depend on the clock, image data included. */
export function scoreOf(r: EvalReport) {
  return {
    samples: r.samples,
    bootstrap: r.bootstrap,
    rows: r.rows.map((row) => ({
      name: row.name,
      images: Array.from(row.images.data),
      classes: row.classes,
      fid: row.fid,
      fidSd: row.fidSd,
      fidDelta: row.fidDelta,
      accuracy: row.accuracy,
      psnr: row.psnr,
      ssim: row.ssim,
      relativeL2: row.relativeL2,
      predictedSpeedup: row.predictedSpeedup,
    })),
  };
}
