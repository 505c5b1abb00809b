/**
 * What a shard job carries through Redis, and how a failure travels back.
 *
 * A job names files by path (model, schedules, weights), not their bytes: workers run from the same
 * checkout or image. The settings the submitter computed from its own files travel along, and a
 * worker whose files give other settings refuses the job instead of sampling another experiment.
 */
import { DittoError, isDittoError, type ErrorCode } from '../../../core/errors.ts';
import type { ProgressSettings } from '../progressStore.ts';
import type { ShardSpec } from '../shard.ts';
import type { EvalConfig } from '../types.ts';

/** The plain-data part of an EvalConfig: everything but the weight tensors, adapter and callbacks. */
export type ShardJobConfig = Pick<EvalConfig, 'modelFile' | 'model' | 'set' | 'weightsFile' | 'samples' | 'steps' | 'sampler' | 'cfgScale' | 'batch' | 'seed' | 'device' | 'warmup'> & {
  schedules: string[];
};

export interface ShardJobData {
  /** One submission: jobs of other runs on the same queue are not mixed in. */
  run: string;
  shard: ShardSpec;
  config: ShardJobConfig;
  /** evalSettings without the device, as the submitter's files give them. */
  expect: ProgressSettings;
}

/** Progress a worker reports per sampled batch. */
export interface ShardJobProgress {
  samples: number;
}

/** A job's failure reason: `E_CODE: message` for a DittoError, so the submitter can rethrow it as one. */
export function failureReason(e: unknown): string {
  return isDittoError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}

export function errorFromReason(prefix: string, reason: string): DittoError {
  const m = /^(E_[A-Z_]+): ([\s\S]*)$/.exec(reason);
  return new DittoError((m?.[1] as ErrorCode | undefined) ?? 'E_INTERNAL', `${prefix}: ${m?.[2] ?? reason}`);
}
