/**
 * `--noise FILE`: noise supplied by the user, so a run can be reproduced exactly against another
 * sampler (PyTorch). A safetensors file with
 *   x_T    [batch, C, H, W]            the initial latent
 *   noise  [S or S−1, batch, C, H, W]  row k = the Gaussian noise the DDPM update adds at step k
 *                                      (sampling order; the last step adds none, so its row may be omitted)
 * DDIM (η = 0) adds no noise and needs only x_T.
 */
import { DittoError } from '../core/errors.ts';
import { shapeString, tensor } from '../core/tensor.ts';
import type { RunNoise } from './sampler/noise.ts';
import { loadWeights } from './weights/index.ts';

export function readNoiseFile(file: string, latent: readonly number[], steps: number, needsStepNoise: boolean): RunNoise {
  const { tensors } = loadWeights(file, 'noise');
  const known = ['x_T', 'noise'];
  const extra = [...tensors.keys()].filter((k) => !known.includes(k));
  if (extra.length) throw new DittoError('E_INPUT', `noise file '${file}': unexpected tensor${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (expected x_T and noise)`);
  const x = tensors.get('x_T');
  if (!x) throw new DittoError('E_INPUT', `noise file '${file}' has no tensor 'x_T' (the initial latent ${shapeString(latent)})`);
  if (shapeString(x.shape) !== shapeString(latent)) {
    throw new DittoError('E_INPUT', `noise file '${file}': x_T is ${shapeString(x.shape)}, the plan needs ${shapeString(latent)}`);
  }
  const n = tensors.get('noise');
  const per = latent.reduce((a, b) => a * b, 1);
  if (!n) {
    if (needsStepNoise && steps > 1) throw new DittoError('E_INPUT', `noise file '${file}' has no tensor 'noise' ([${steps - 1} or ${steps}, ${latent.join(', ')}], one row per DDPM step)`);
    return { initial: x, steps: Array.from({ length: steps }, () => tensor(latent)) };
  }
  const rows = n.shape[0] ?? 0;
  const rowShape = n.shape.slice(1);
  if (shapeString(rowShape) !== shapeString(latent) || (rows !== steps && rows !== steps - 1)) {
    throw new DittoError('E_INPUT', `noise file '${file}': noise is ${shapeString(n.shape)}, the plan needs [${steps - 1} or ${steps}, ${latent.join(', ')}]`);
  }
  const data = n.data as Float32Array;
  const stepNoise = Array.from({ length: steps }, (_, k) => (k < rows ? tensor(latent, data.slice(k * per, (k + 1) * per)) : tensor(latent)));
  return { initial: x, steps: stepNoise };
}
