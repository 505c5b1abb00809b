import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DittoError } from '../../core/errors.ts';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { parseLabelsFlag, registerFid } from '../../cli/commands/fid.ts';
import { computeFid } from '../../evaluation/metrics/fid.ts';
import { runInProcess } from '../cli/helpers.ts';

const golden = loadWeights(fileURLToPath(new URL('./fixtures/fmnist-classifier-golden.safetensors', import.meta.url))).tensors;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ditto-fid-'));

function file(name: string, tensors: Record<string, Tensor>): string {
  const p = path.join(dir, name);
  writeSafetensors(p, new Map(Object.entries(tensors)));
  return p;
}

/** Runs `ditto fid …` in process and returns what it printed. */
function run(args: string[]): Promise<string> {
  return runInProcess(registerFid, ['fid', ...args]);
}

afterEach(() => vi.restoreAllMocks());

describe('ditto fid', () => {
  const images = golden.get('images')!;
  const labels = golden.get('labels')!;

  it('prints FID and, from the file’s labels, class accuracy (--json)', async () => {
    const out = JSON.parse(await run([file('with-labels.safetensors', { images, labels }), '--json'])) as { n: number; fid: number; accuracy: number };
    expect(out.n).toBe(8);
    expect(out.fid).toBeGreaterThan(0);
    expect(out.accuracy).toBeGreaterThanOrEqual(0.75);
  });

  it('takes --labels over the file and prints text', async () => {
    const p = file('no-labels.safetensors', { images });
    const text = await run([p]);
    expect(text).toMatch(/^images\s+8$/m);
    expect(text).toMatch(/^FID\s+\d+\.\d{3}/m);
    expect(text).not.toMatch(/accuracy/);
    const all = await run([p, '--labels', Array.from(labels.data).join(',')]);
    const expected = computeFid(images, { labels: labels.data }).accuracy!;
    expect(all).toContain(`accuracy  ${(expected * 100).toFixed(2)} %`);
  });

  it('rejects bad files and flags with DittoError', async () => {
    await expect(run([file('other.safetensors', { pictures: images })])).rejects.toThrow(/no tensor named 'images'.*pictures/);
    await expect(run([file('small.safetensors', { images: tensor([2, 1, 14, 14]) })])).rejects.toThrow(/\[N, 1, 28, 28\]/);
    await expect(run([file('bad-labels.safetensors', { images, labels: intTensor([3], [0, 1, 2]) })])).rejects.toThrow(/'labels' must be integers \[8\]/);
    await expect(run([file('ok.safetensors', { images }), '--labels', '1,2'])).rejects.toThrow(/2 classes but the file has 8 images/);
    await expect(run([path.join(dir, 'missing.safetensors')])).rejects.toThrow(/cannot read images '.*missing\.safetensors': no such file/);
  });

  it('parses --labels as one class for all or one per image', () => {
    expect(Array.from(parseLabelsFlag('3', 4))).toEqual([3, 3, 3, 3]);
    expect(Array.from(parseLabelsFlag('0, 9', 2))).toEqual([0, 9]);
    expect(() => parseLabelsFlag('10', 2)).toThrow(DittoError);
    expect(() => parseLabelsFlag('a', 2)).toThrow(/--labels expects an integer/);
  });
});
