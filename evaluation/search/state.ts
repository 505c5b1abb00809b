/**
 * The search state in the output folder (`search-state.json`): the settings, the calibrated kernel
 * times and every candidate evaluated so far, written atomically after each evaluation. A resumed
 * search checks the settings, reuses the kernel times and replays the (deterministic) search
 * against the saved evaluations, so it ends where an uninterrupted run would.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import { readTextOrThrow, writeFileAtomic } from '../../core/files.ts';
import { settingsDifferences, type ProgressSettings } from '../eval/progressStore.ts';
import type { KernelTimes } from '../../compiler/plan/kernelTimes.ts';

export const STATE_FILE = 'search-state.json';

export interface Evaluated {
  /** Predicted ms per image (calibrated model) and the speed-up it means. */
  ms: number;
  speedup: number;
  /** plan.cost's roofline speed-up, for comparison. */
  rooflineSpeedup: number;
  measuredShare: number;
  loss: number;
  imageError: number;
  featureError: number | null;
  /** null stands for +∞ (identical images) in JSON. */
  psnr: number | null;
}

export interface FinalistResult {
  key: string;
  eps: number;
  fid: number | null;
  baselineFid: number | null;
  realisedSpeedup: number;
  psnr: number | null;
  accuracy: number | null;
}

export interface SearchState {
  format: 'ditto-search-state';
  version: 1;
  settings: ProgressSettings;
  kernelTimes: KernelTimes | null;
  evaluations: Record<string, Evaluated>;
  finalists: FinalistResult[] | null;
  /** The finalist settings `finalists` was evaluated with (they may change on resume). */
  finalistSettings?: string;
}

export function statePath(outDir: string): string {
  return path.join(outDir, STATE_FILE);
}

export function freshState(settings: ProgressSettings): SearchState {
  return { format: 'ditto-search-state', version: 1, settings, kernelTimes: null, evaluations: {}, finalists: null };
}

/** The saved state for `--resume` (or a fresh one where none was saved); settings must match. */
export function loadState(outDir: string, settings: ProgressSettings, resume: boolean): SearchState {
  const file = statePath(outDir);
  if (!existsSync(file)) return freshState(settings);
  if (!resume) throw new DittoError('E_USAGE', `${file} holds an earlier search: pass --resume to continue it, or choose another --out-dir`);
  let s: SearchState;
  try {
    s = JSON.parse(readTextOrThrow(file, 'search state')) as SearchState;
  } catch (e) {
    if (e instanceof DittoError) throw e;
    throw new DittoError('E_INPUT', `${file}: not valid JSON (${(e as Error).message}); remove it to start afresh`);
  }
  if (!s || s.format !== 'ditto-search-state' || s.version !== 1 || typeof s.evaluations !== 'object' || s.evaluations === null || typeof s.settings !== 'object') {
    throw new DittoError('E_INPUT', `${file}: not a ditto search state; remove it to start afresh`);
  }
  const differ = settingsDifferences(s.settings, settings, 'saved', 'now');
  if (differ.length) throw new DittoError('E_USAGE', `--resume: ${file} was saved with other settings (${differ.join('; ')}); rerun with the saved settings or choose another --out-dir`);
  return s;
}

export function saveState(outDir: string, s: SearchState): void {
  writeFileAtomic(statePath(outDir), JSON.stringify(s) + '\n');
}
