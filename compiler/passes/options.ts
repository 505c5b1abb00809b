/** Compile options, and their normalisation/validation (bad values are the user's: E_USAGE). */
import { DittoError } from '../../core/errors.ts';
import { type CompileCaps, HARDWARE_CAPS } from '../plan/caps.ts';

export type SamplerKind = 'ddpm' | 'ddim';

/** Every sampler, in the order messages list them. */
export const SAMPLERS: readonly SamplerKind[] = ['ddpm', 'ddim'];

/** The sampler of a plan whose options name none (the released DiT and EB-Cache code's). */
export const DEFAULT_SAMPLER: SamplerKind = 'ddpm';

export interface CompileOptions {
  steps: number;
  sampler: SamplerKind;
  /** Classifier-free guidance scale; absent = no CFG (the model batch is `batch`, not 2·batch). */
  cfgScale?: number;
  /** Images per run (the user's batch; the model batch is 2·batch under CFG). */
  batch: number;
  /** f16 storage for weights, activations and caches (f32 accumulation); needs `shader-f16`. */
  f16: boolean;
  /** Which eps channels CFG guides: DiT's first 3 (its reproducibility quirk) or all. */
  guide: 'first3' | 'all';
  caps: CompileCaps;
  /** Name of a pass whose IR to dump (see PASS_NAMES). */
  dumpAfter?: string;
  /** Merge identical step bodies (default true; false keeps one body per step, for tests). */
  dedup?: boolean;
}

export type CompileOptionsInput = Partial<CompileOptions> & { steps: number };

export function normaliseOptions(o: CompileOptionsInput): CompileOptions {
  const steps = o.steps;
  if (!Number.isInteger(steps) || steps < 1) throw new DittoError('E_USAGE', `steps must be a positive integer, got ${steps}`);
  const batch = o.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new DittoError('E_USAGE', `batch must be a positive integer, got ${batch}`);
  const sampler = o.sampler ?? DEFAULT_SAMPLER;
  if (!SAMPLERS.includes(sampler)) throw new DittoError('E_USAGE', `sampler must be ${SAMPLERS.join(' or ')}, got '${String(sampler)}'`);
  if (o.cfgScale !== undefined && !Number.isFinite(o.cfgScale)) throw new DittoError('E_USAGE', `cfg scale must be a finite number, got ${o.cfgScale}`);
  const guide = o.guide ?? 'first3';
  if (guide !== 'first3' && guide !== 'all') throw new DittoError('E_USAGE', `guide must be first3 or all, got '${String(guide)}'`);
  const caps = o.caps ?? HARDWARE_CAPS;
  const f16 = o.f16 ?? false;
  if (f16 && !caps.hasF16) {
    throw new DittoError('E_USAGE', `--f16 needs the adapter feature shader-f16, which the '${caps.name}' profile does not have`);
  }
  return {
    steps, sampler, batch, f16, guide, caps,
    ...(o.cfgScale !== undefined ? { cfgScale: o.cfgScale } : {}),
    ...(o.dumpAfter !== undefined ? { dumpAfter: o.dumpAfter } : {}),
    dedup: o.dedup ?? true,
  };
}
