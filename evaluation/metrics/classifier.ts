/**
 * The Fashion-MNIST classifier whose penultimate features define FID for this domain, run on the
 * CPU in plain TypeScript. It is tiny (≈ 1.2 M multiply-adds per image), so direct loops are fast
 * enough for thousands of images and keep the metric independent of the GPU runtime it judges.
 *
 * Architecture (tools/fid/train_classifier.py trains it; this file must mirror it exactly):
 *   x [N,1,28,28] in [-1,1] → conv3×3 pad 1 (1→16), ReLU, maxpool 2 → conv3×3 pad 1 (16→32), ReLU,
 *   maxpool 2 → flatten (c,h,w) → fc1 1568→128, ReLU = features → fc2 128→10 = logits.
 * Arithmetic is float64 (weights are f32), so results sit within f32 rounding of torch's.
 */
import { packagePath } from '../../core/packageRoot.ts';
import { DittoError } from '../../core/errors.ts';
import { shapeString, type Tensor } from '../../core/tensor.ts';
import { loadWeights } from '../../runtime/weights/index.ts';

export const DEFAULT_CLASSIFIER_PATH = packagePath('models', 'fid', 'fmnist-classifier.safetensors');

export const IMAGE_SIZE = 28;
export const FEATURE_DIM = 128;
export const NUM_CLASSES = 10;

const C1 = 16;
const C2 = 32;

/** Every tensor the classifier needs, with its shape. */
const EXPECTED: Readonly<Record<string, readonly number[]>> = {
  'conv1.weight': [C1, 1, 3, 3],
  'conv1.bias': [C1],
  'conv2.weight': [C2, C1, 3, 3],
  'conv2.bias': [C2],
  'fc1.weight': [FEATURE_DIM, C2 * 7 * 7],
  'fc1.bias': [FEATURE_DIM],
  'fc2.weight': [NUM_CLASSES, FEATURE_DIM],
  'fc2.bias': [NUM_CLASSES],
};

export interface Classifier {
  readonly source: string;
  readonly params: Readonly<Record<keyof typeof EXPECTED & string, Float64Array>>;
}

export interface ClassifierOutput {
  n: number;
  /** Row-major [n, FEATURE_DIM]: the ReLU output of fc1, the input of the logits layer. */
  features: Float64Array;
  /** Row-major [n, NUM_CLASSES]. */
  logits: Float64Array;
}

/** Checks names and shapes of a loaded weight set and copies the weights to float64. */
export function classifierFromTensors(tensors: ReadonlyMap<string, Tensor>, source: string): Classifier {
  const params: Record<string, Float64Array> = {};
  for (const [name, shape] of Object.entries(EXPECTED)) {
    const t = tensors.get(name);
    if (!t) throw new DittoError('E_WEIGHTS', `${source}: the FID classifier needs a tensor '${name}' ${shapeString(shape)}, which the file does not have`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new DittoError('E_WEIGHTS', `${source}: tensor '${name}' has shape ${shapeString(t.shape)}, the FID classifier needs ${shapeString(shape)}`);
    }
    if (t.dtype !== 'f32') throw new DittoError('E_WEIGHTS', `${source}: tensor '${name}' is an integer tensor; the FID classifier needs floats`);
    params[name] = Float64Array.from(t.data);
  }
  return { source, params: params as Classifier['params'] };
}

export function loadClassifier(path: string = DEFAULT_CLASSIFIER_PATH): Classifier {
  return classifierFromTensors(loadWeights(path).tensors, path);
}

/** Checks that `images` is [N, 1, 28, 28] floats and returns N. */
export function checkClassifierInput(images: Tensor, what = 'images'): number {
  const s = images.shape;
  if (images.dtype !== 'f32' || s.length !== 4 || s[1] !== 1 || s[2] !== IMAGE_SIZE || s[3] !== IMAGE_SIZE) {
    throw new DittoError('E_INPUT', `${what}: the FID classifier takes float images [N, 1, ${IMAGE_SIZE}, ${IMAGE_SIZE}] in [-1, 1], got ${images.dtype} ${shapeString(s)}`);
  }
  if (s[0] === 0) throw new DittoError('E_INPUT', `${what}: no images (N = 0)`);
  return s[0]!;
}

/** conv 3×3, stride 1, zero padding 1, into a zeroed-then-filled `out` [cout, h, w]. */
function conv3x3(input: Float64Array, cin: number, h: number, w: number, weight: Float64Array, bias: Float64Array, cout: number, out: Float64Array): void {
  const plane = h * w;
  for (let co = 0; co < cout; co++) {
    const o = co * plane;
    out.fill(bias[co]!, o, o + plane);
    for (let ci = 0; ci < cin; ci++) {
      const ib = ci * plane;
      for (let ky = 0; ky < 3; ky++) {
        for (let kx = 0; kx < 3; kx++) {
          const wv = weight[((co * cin + ci) * 3 + ky) * 3 + kx]!;
          const dy = ky - 1;
          const dx = kx - 1;
          // Output rows/columns whose tap lands inside the input; the rest read the zero padding.
          const y0 = Math.max(0, -dy);
          const y1 = Math.min(h, h - dy);
          const x0 = Math.max(0, -dx);
          const x1 = Math.min(w, w - dx);
          for (let y = y0; y < y1; y++) {
            const orow = o + y * w;
            const irow = ib + (y + dy) * w + dx;
            for (let x = x0; x < x1; x++) out[orow + x]! += wv * input[irow + x]!;
          }
        }
      }
    }
  }
}

/** ReLU then 2×2 max pooling (stride 2) of [c, h, w] (h, w even) into [c, h/2, w/2]. */
function reluMaxPool2(input: Float64Array, c: number, h: number, w: number, out: Float64Array): void {
  const oh = h >> 1;
  const ow = w >> 1;
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const i = (ch * h + 2 * y) * w + 2 * x;
        // max(relu(a), relu(b), …) = max(0, a, b, …)
        let m = 0;
        const a = input[i]!, b = input[i + 1]!, cc = input[i + w]!, d = input[i + w + 1]!;
        if (a > m) m = a;
        if (b > m) m = b;
        if (cc > m) m = cc;
        if (d > m) m = d;
        out[(ch * oh + y) * ow + x] = m;
      }
    }
  }
}

/** out[j] = b[j] + Σ_i W[j, i]·x[i], written at out[outOffset + j]. */
function linear(x: Float64Array, xOffset: number, inDim: number, weight: Float64Array, bias: Float64Array, outDim: number, out: Float64Array, outOffset: number, relu: boolean): void {
  for (let j = 0; j < outDim; j++) {
    let s = bias[j]!;
    const row = j * inDim;
    for (let i = 0; i < inDim; i++) s += weight[row + i]! * x[xOffset + i]!;
    out[outOffset + j] = relu && s < 0 ? 0 : s;
  }
}

/** Runs the classifier on images [N, 1, 28, 28] in [-1, 1]. */
export function classify(clf: Classifier, images: Tensor): ClassifierOutput {
  const n = checkClassifierInput(images);
  const p = clf.params;
  const px = IMAGE_SIZE * IMAGE_SIZE;
  const x = new Float64Array(px);
  const a1 = new Float64Array(C1 * px);
  const p1 = new Float64Array(C1 * 14 * 14);
  const a2 = new Float64Array(C2 * 14 * 14);
  const p2 = new Float64Array(C2 * 7 * 7);
  const features = new Float64Array(n * FEATURE_DIM);
  const logits = new Float64Array(n * NUM_CLASSES);
  const data = images.data;
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < px; i++) x[i] = data[k * px + i]!;
    conv3x3(x, 1, IMAGE_SIZE, IMAGE_SIZE, p['conv1.weight'], p['conv1.bias'], C1, a1);
    reluMaxPool2(a1, C1, IMAGE_SIZE, IMAGE_SIZE, p1);
    conv3x3(p1, C1, 14, 14, p['conv2.weight'], p['conv2.bias'], C2, a2);
    reluMaxPool2(a2, C2, 14, 14, p2);
    linear(p2, 0, C2 * 49, p['fc1.weight'], p['fc1.bias'], FEATURE_DIM, features, k * FEATURE_DIM, true);
    linear(features, k * FEATURE_DIM, FEATURE_DIM, p['fc2.weight'], p['fc2.bias'], NUM_CLASSES, logits, k * NUM_CLASSES, false);
  }
  return { n, features, logits };
}

/** The arg-max class of each row of logits [n, NUM_CLASSES]. */
export function predictedClasses(out: ClassifierOutput): Int32Array {
  const pred = new Int32Array(out.n);
  for (let k = 0; k < out.n; k++) {
    let best = 0;
    for (let c = 1; c < NUM_CLASSES; c++) if (out.logits[k * NUM_CLASSES + c]! > out.logits[k * NUM_CLASSES + best]!) best = c;
    pred[k] = best;
  }
  return pred;
}
