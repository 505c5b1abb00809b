/**
 * Weight files: open or load one by path (format from the magic bytes: a zip is a PyTorch `.pt`,
 * anything else is read as safetensors), write safetensors, validate against a model.
 */
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import { fileSource } from './byteSource.ts';
import { openPytorch } from './pytorch.ts';
import { openSafetensors, writeSafetensorsFile, type SafetensorsWriteOptions } from './safetensors.ts';
import type { WeightFile, WeightSet } from './types.ts';
import { looksLikeZip } from './zip.ts';
import { checkFinite } from './finite.ts';

export type { TensorRecord, WeightFile, WeightFormat, WeightSet } from './types.ts';
export { validateWeights } from './validate.ts';
export { randomWeights } from './random.ts';
export { posEmbed2d } from './posEmbed.ts';

/** Opens a weight file and parses its header (or pickle); tensor data are read by `record.load()`. */
export function openWeights(path: string, what = 'weights'): WeightFile {
  const src = fileSource(path, what);
  try {
    const head = src.read(0, Math.min(16, src.size), 'the file header');
    if (looksLikeZip(head)) return openPytorch(src);
    // torch.save(..., _use_new_zipfile_serialization=False) and torch < 1.6 write a bare pickle
    // starting with PROTO 2 and a LONG1 magic number.
    if (head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a && head[3] === 0x0a) {
      throw new DittoError('E_WEIGHTS', `${path}: this is PyTorch's legacy (pre-1.6, non-zip) format, which ditto does not read; re-save it with torch.save(torch.load(f), f) in a recent torch`);
    }
    return openSafetensors(src);
  } catch (e) {
    src.close();
    throw e;
  }
}

export interface LoadWeightsOptions {
  /** Accept NaN and ±Inf values (the CLI's --allow-non-finite-weights); by default they are E_WEIGHTS. */
  allowNonFinite?: boolean;
}

/**
 * Every tensor of a safetensors or PyTorch file; `what` names its role in errors ('images',
 * 'inputs'). A NaN or Inf anywhere is an E_WEIGHTS error naming the tensor and index unless
 * `allowNonFinite`.
 */
export function loadWeights(path: string, what = 'weights', opts: LoadWeightsOptions = {}): WeightSet {
  const f = openWeights(path, what);
  try {
    const tensors = new Map<string, Tensor>();
    for (const r of f.records) tensors.set(r.name, r.load());
    if (!opts.allowNonFinite) checkFinite(tensors, path, what, what === 'weights' ? 'Pass --allow-non-finite-weights to load it anyway.' : 'Every value must be a finite number.');
    return { tensors, format: f.format, path };
  } finally {
    f.close();
  }
}

/** Writes a safetensors file atomically (temporary name, then rename). */
export function writeSafetensors(path: string, tensors: Map<string, Tensor>, metadata?: Record<string, string>, opts?: SafetensorsWriteOptions): void {
  writeSafetensorsFile(path, tensors, metadata, opts);
}
