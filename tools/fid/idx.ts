/** Reads the gzip-compressed IDX files of (Fashion-)MNIST into ditto tensors. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DittoError } from '../../core/errors.ts';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

function readIdx(file: string): { dims: number[]; bytes: Uint8Array } {
  let raw: Buffer;
  try {
    raw = gunzipSync(readFileSync(file));
  } catch (e) {
    throw new DittoError('E_IO', `${file}: cannot read the gzip IDX file (${(e as Error).message}); install the Debian package dataset-fashion-mnist`);
  }
  // Magic: two zero bytes, the element type (0x08 = unsigned byte), the number of dimensions.
  if (raw[0] !== 0 || raw[1] !== 0 || raw[2] !== 0x08) throw new DittoError('E_INPUT', `${file}: not an unsigned-byte IDX file`);
  const ndim = raw[3]!;
  const dims = Array.from({ length: ndim }, (_, i) => raw.readUInt32BE(4 + 4 * i));
  return { dims, bytes: new Uint8Array(raw.buffer, raw.byteOffset + 4 + 4 * ndim, raw.length - 4 - 4 * ndim) };
}

/** Images [N, 1, 28, 28] as ditto floats in [-1, 1] (pixel/127.5 − 1) and labels [N]. */
export function loadFashionMnist(split: 'train' | 't10k', dir = FASHION_MNIST_DIR): { images: Tensor; labels: Tensor } {
  const im = readIdx(path.join(dir, `${split}-images-idx3-ubyte.gz`));
  const lb = readIdx(path.join(dir, `${split}-labels-idx1-ubyte.gz`));
  const [n, h, w] = im.dims as [number, number, number];
  const data = new Float32Array(n * h * w);
  for (let i = 0; i < data.length; i++) data[i] = im.bytes[i]! / 127.5 - 1;
  return { images: tensor([n, 1, h, w], data), labels: intTensor([n], Int32Array.from(lb.bytes.subarray(0, n))) };
}

/** Images k ∈ indices of a batch [N, C, H, W], as a new tensor. */
export function takeImages(images: Tensor, indices: ArrayLike<number>): Tensor {
  const [, c, h, w] = images.shape as [number, number, number, number];
  const per = c * h * w;
  const out = new Float32Array(indices.length * per);
  for (let j = 0; j < indices.length; j++) out.set(images.data.subarray(indices[j]! * per, (indices[j]! + 1) * per), j * per);
  return tensor([indices.length, c, h, w], out);
}
