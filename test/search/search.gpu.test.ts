/**
 * `ditto search` on the GPU, kept small (the toy model, a few candidates): the kernel times are
 * measured on the adapter and price the candidates, the finalist is sampled and timed against no
 * cache, and the chosen file checks and compiles like any schedule.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../../compiler/frontend.ts';
import { compileSource } from '../../compiler/compileSource.ts';
import { HARDWARE_CAPS } from '../../compiler/plan/caps.ts';
import { runSearch } from '../../evaluation/search/index.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { toyModelFile, toyWeights } from './toyModel.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('ditto search on the GPU', () => {
  it('measures kernel times, prices candidates with them, and times the finalist', async () => {
    const model = toyModelFile();
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-search-gpu-'));
    const r = await runSearch({
      modelFile: model, model: 'Toy', weights: toyWeights(model), weightsFile: 'toy.safetensors', steps: 4, sampler: 'ddpm', cfgScale: 2,
      budget: { kind: 'speedup', speedup: 1.1 }, outDir: dir, gpu: gpu!, samples: 2, batch: 2, population: 2, generations: 1, finalists: 1, finalistSamples: 2,
    });
    expect(r.kernelTimes.source).toBe('measured');
    expect(r.kernelTimes.samples).toBeGreaterThan(0);
    expect(Object.keys(r.kernelTimes.bySignature).length).toBeGreaterThan(0);
    expect(r.kernelTimes.overall.a + r.kernelTimes.overall.b).toBeGreaterThan(0);
    expect(r.baselineMsPerImage).toBeGreaterThan(0);
    // Most of a candidate's dispatches are priced by a measured signature.
    expect(r.front.every((f) => f.speedup > 0 && Number.isFinite(f.msPerImage))).toBe(true);
    const state = JSON.parse(readFileSync(path.join(dir, 'search-state.json'), 'utf8'));
    const shares = Object.values(state.evaluations as Record<string, { measuredShare: number }>).map((e) => e.measuredShare);
    expect(Math.max(...shares)).toBeGreaterThan(0.5);
    // The finalists (eps 1 and 1/0.965 under DDPM) were sampled and timed against no cache.
    expect(r.finalists).toHaveLength(2);
    for (const f of r.finalists) expect(f.realisedSpeedup).toBeGreaterThan(0);
    expect(r.chosen!.speedup).toBeGreaterThanOrEqual(1.1 * 0.999);
    // The chosen file is a schedule like any other.
    expect(checkFiles([r.chosen!.file]).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const compiled = await compileSource(r.chosen!.file, { model: 'Toy', schedule: r.chosen!.file, steps: 4, cfgScale: 2, sampler: 'ddpm', caps: HARDWARE_CAPS });
    expect(compiled.plan.stepBody).toHaveLength(4);
  }, 900_000);
});
