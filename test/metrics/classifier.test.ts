import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { DittoError } from '../../core/errors.ts';
import { tensor, type Tensor } from '../../core/tensor.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { classifierFromTensors, classify, FEATURE_DIM, loadClassifier, NUM_CLASSES, predictedClasses } from '../../evaluation/metrics/classifier.ts';
import { classAccuracy } from '../../evaluation/metrics/fid.ts';

const GOLDEN = fileURLToPath(new URL('./fixtures/fmnist-classifier-golden.safetensors', import.meta.url));

describe('FID classifier (TypeScript forward)', () => {
  const clf = loadClassifier();
  const golden = loadWeights(GOLDEN).tensors;
  const images = golden.get('images')!;
  const labels = golden.get('labels')!;

  it('matches torch features and logits on 8 test images', () => {
    expect(images.shape).toEqual([8, 1, 28, 28]);
    const out = classify(clf, images);
    expect(out.n).toBe(8);
    expect(out.features.length).toBe(8 * FEATURE_DIM);
    expect(out.logits.length).toBe(8 * NUM_CLASSES);
    expect(out.features).toAllClose(golden.get('features')!.data, { rtol: 1e-4, atol: 1e-4 });
    expect(out.logits).toAllClose(golden.get('logits')!.data, { rtol: 1e-4, atol: 1e-4 });
  });

  it('classifies the golden images mostly right (the weights are trained, not random)', () => {
    const out = classify(clf, images);
    expect(classAccuracy(out, labels.data)).toBeGreaterThanOrEqual(0.75);
    // …and a wrong label set scores lower: shift every label by one class.
    const wrong = Array.from(labels.data, (y) => (y + 1) % NUM_CLASSES);
    expect(classAccuracy(out, wrong)).toBeLessThan(classAccuracy(out, labels.data));
    expect(Array.from(predictedClasses(out))).toHaveLength(8);
  });

  it('processes each image independently of its batch', () => {
    const all = classify(clf, images);
    const third = tensor([1, 1, 28, 28], images.data.slice(2 * 784, 3 * 784) as Float32Array);
    const one = classify(clf, third);
    expect(one.features).toAllClose(all.features.slice(2 * FEATURE_DIM, 3 * FEATURE_DIM), { atol: 1e-12, rtol: 0 });
  });

  it('rejects images of the wrong shape with E_INPUT', () => {
    const bad: Tensor[] = [tensor([2, 3, 28, 28]), tensor([2, 1, 32, 32]), tensor([784]), tensor([0, 1, 28, 28])];
    for (const t of bad) {
      expect(() => classify(clf, t)).toThrowError(DittoError);
      try {
        classify(clf, t);
      } catch (e) {
        expect((e as DittoError).code).toBe('E_INPUT');
      }
    }
  });

  it('rejects weight sets with a missing or misshapen tensor with E_WEIGHTS', () => {
    const ws = loadWeights(fileURLToPath(new URL('../../models/fid/fmnist-classifier.safetensors', import.meta.url))).tensors;
    const missing = new Map(ws);
    missing.delete('fc1.weight');
    expect(() => classifierFromTensors(missing, 'x.safetensors')).toThrow(/needs a tensor 'fc1.weight'/);
    const wrong = new Map(ws);
    wrong.set('conv2.bias', tensor([16]));
    try {
      classifierFromTensors(wrong, 'x.safetensors');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DittoError);
      expect((e as DittoError).code).toBe('E_WEIGHTS');
      expect((e as DittoError).message).toMatch(/conv2.bias.*\[16\].*\[32\]/);
    }
  });
});
