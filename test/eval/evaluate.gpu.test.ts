import { describe, expect, it } from 'vitest';
import { runEval } from '../../evaluation/eval/evaluate.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { tinyConfig } from './helpers.ts';

describe('runEval on the GPU', async () => {
  const gpu = await gpuOrSkip();

  it.skipIf(!gpu)('matches the reference executor image for image, and a compute-everything schedule is bit-identical to the baseline', async () => {
    const cfg = tinyConfig({ cfgScale: 1.5 });
    const [onGpu, onCpu] = [await runEval({ ...cfg, device: 'gpu', gpu }), await runEval(cfg)];
    expect(onGpu.device).toBe(`gpu: ${gpu!.report.name}`);
    expect(onGpu.warmup).toBe(true);
    const [base, none, fora] = onGpu.rows;
    expect(Array.from(none!.images.data)).toEqual(Array.from(base!.images.data));
    expect(none!.psnr).toBe(Infinity);
    expect(Number.isFinite(fora!.psnr)).toBe(true);
    expect(base!.predictedSpeedup).toBe(1);
    expect(fora!.predictedSpeedup!).toBeGreaterThan(1);
    onGpu.rows.forEach((r, i) => expect(r.images.data).toAllClose(onCpu.rows[i]!.images.data, { atol: 2e-3, rtol: 2e-3 }));
  }, 600_000);
});
