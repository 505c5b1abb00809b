/**
 * `runSearch` on the toy model (test/search/toyModel.ts) with the CPU reference executor and the
 * roofline cost: it finds the known optimum (skip the identity blocks, at no fidelity cost), it is
 * deterministic for a seed, an interrupted search resumed gives what an uninterrupted one gives,
 * and a budget no schedule can meet is refused before the search with the best reachable speed-up.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSource, openModel, planFor, scheduleFor } from '../../compiler/compileSource.ts';
import { HARDWARE_CAPS } from '../../compiler/plan/caps.ts';
import { isDittoError } from '../../core/errors.ts';
import { predictPlan, rooflineKernelTimes } from '../../compiler/plan/kernelTimes.ts';
import { scheduleSource } from '../../evaluation/search/emit.ts';
import { allCompute, repair } from '../../evaluation/search/genome.ts';
import { runSearch, type SearchOptions } from '../../evaluation/search/index.ts';
import { IDENTITY_BLOCKS, toyModelFile, toyWeights } from './toyModel.ts';

const MODEL = toyModelFile();
const weights = toyWeights(MODEL);
const STEPS = 4;
const tmp = () => mkdtempSync(path.join(tmpdir(), 'ditto-search-'));

const base = (outDir: string, extra: Partial<SearchOptions> = {}): SearchOptions => ({
  modelFile: MODEL, model: 'Toy', weights, weightsFile: 'toy.safetensors', steps: STEPS, sampler: 'ddim', cfgScale: 2,
  budget: { kind: 'speedup', speedup: 1.2 }, outDir, device: 'reference', samples: 2, batch: 2, population: 6, generations: 5, finalists: 1, finalistSamples: 2, seed: 3, ...extra,
});

/** Roofline speed-up of skipping the identity blocks at every step after the first: the loss-free optimum. */
function optimumSpeedup(): number {
  const g = allCompute(4, STEPS);
  for (const b of IDENTITY_BLOCKS) g.res[b]!.fill(true);
  const m = openModel(MODEL, { model: 'Toy', batch: 2, cfg: true });
  const file = path.join(path.dirname(MODEL), 'optimum.ditto');
  const text = scheduleSource(repair(g), { name: 'optimum', model: m.graph.model, group: 'blocks', steps: STEPS, use: './toy.ditto', epsScales: ['1'] });
  const ir = scheduleFor(m, 'optimum', STEPS, { program: loadSource({ text, path: file }) });
  const ms = (s: typeof ir | undefined) => predictPlan(planFor(m, s, { steps: STEPS, sampler: 'ddim', cfgScale: 2, caps: HARDWARE_CAPS, guide: 'first3', f16: false }).plan, rooflineKernelTimes(), HARDWARE_CAPS).ms;
  return ms(undefined) / ms(ir);
}

describe('ditto search (library, toy model, reference executor)', () => {
  const best = optimumSpeedup();

  it('finds the known optimum: a loss-free schedule at the speed of skipping the identity blocks', async () => {
    const dir = tmp();
    const r = await runSearch(base(dir, { budget: { kind: 'speedup', speedup: best * 0.999 }, generations: 12 }));
    expect(r.complete).toBe(true);
    expect(r.chosen).not.toBeNull();
    expect(r.chosen!.speedup).toBeGreaterThanOrEqual(best * 0.999);
    // Lossless up to rounding: skipping a non-identity block on a whole step costs ≥ 1e-4 here
    // (the front shows it); what is left is float noise of reuses at the last steps.
    expect(r.chosen!.loss).toBeLessThan(1e-6);
    expect(r.front.some((f) => f.loss > 1e-4)).toBe(true);
    // The outputs: the chosen schedule, the front as .ditto, JSON and SVG; no work folder left.
    expect(readdirSync(dir).sort()).toEqual(['front.ditto', 'front.json', 'front.svg', 'search-state.json', 'search_ddim.ditto']);
    const front = JSON.parse(readFileSync(path.join(dir, 'front.json'), 'utf8'));
    expect(front.front.length).toBeGreaterThan(1);
    expect(front.chosen.name).toBe('search_ddim');
    // Searched under DDIM: the chosen schedule and the front say so (compiling them for DDPM is refused).
    expect(readFileSync(path.join(dir, 'search_ddim.ditto'), 'utf8')).toMatch(/\n {2}steps \d+\n {2}sampler ddim\n/);
    expect(readFileSync(path.join(dir, 'front.ditto'), 'utf8')).toMatch(/\n {2}steps \d+\n {2}sampler ddim\n/);
    expect(readFileSync(path.join(dir, 'front.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  }, 600_000);

  it('is deterministic for a seed, and resuming an interrupted search gives the same result', async () => {
    const a = tmp();
    const b = tmp();
    const c = tmp();
    const ra = await runSearch(base(a));
    const rb = await runSearch(base(b));
    expect(rb.front).toEqual(ra.front);
    expect(rb.chosen && path.basename(rb.chosen.file)).toBe(ra.chosen && path.basename(ra.chosen.file));
    expect(readFileSync(path.join(b, 'search_ddim.ditto'), 'utf8')).toBe(readFileSync(path.join(a, 'search_ddim.ditto'), 'utf8'));
    // Interrupted after 7 candidates (the state keeps them), then resumed twice.
    const first = await runSearch(base(c, { stopAfter: 7 }));
    expect(first.complete).toBe(false);
    expect(existsSync(path.join(c, 'search_ddim.ditto'))).toBe(false);
    expect(first.evaluations).toBe(7);
    await expect(runSearch(base(c))).rejects.toThrow(/pass --resume/);
    const second = await runSearch(base(c, { resume: true, stopAfter: 10 }));
    expect(second.complete).toBe(false);
    const done = await runSearch(base(c, { resume: true }));
    expect(done.complete).toBe(true);
    expect(done.front).toEqual(ra.front);
    // Finalists alike but for their measured wall-clock speed-up.
    const bare = (f: typeof ra.finalists) => f.map(({ realisedSpeedup: _, ...rest }) => rest);
    expect(bare(done.finalists)).toEqual(bare(ra.finalists));
    expect(readFileSync(path.join(c, 'search_ddim.ditto'), 'utf8')).toBe(readFileSync(path.join(a, 'search_ddim.ditto'), 'utf8'));
    // A finalist stage interrupted leaves its work folder; a resume that skips the stage removes it.
    mkdirSync(path.join(c, '.search-work'));
    writeFileSync(path.join(c, '.search-work', 'search_ddim_f1.ditto'), '');
    const skipped = await runSearch(base(c, { resume: true, finalists: 0 }));
    expect(skipped.complete).toBe(true);
    expect(readdirSync(c)).not.toContain('.search-work');
    // A different seed searches differently; other settings are refused on resume.
    const d = tmp();
    const rd = await runSearch(base(d, { seed: 4 }));
    expect(rd.front.map((f) => f.key)).not.toEqual(ra.front.map((f) => f.key));
    await expect(runSearch(base(c, { resume: true, sampler: 'ddpm' }))).rejects.toThrow(/other settings \(.*sampler: saved "ddim", now "ddpm"/);
  }, 600_000);

  it('refuses a budget no schedule can meet, naming the best reachable, and writes nothing', async () => {
    const dir = path.join(tmp(), 'out');
    let err: unknown;
    try {
      await runSearch(base(dir, { budget: { kind: 'speedup', speedup: 100 } }));
    } catch (e) {
      err = e;
    }
    expect(isDittoError(err) && err.code === 'E_USAGE').toBe(true);
    expect((err as Error).message).toMatch(/--budget 100x cannot be met: the fastest schedule .* is predicted at [0-9.]+x \([0-9.]+ ms per image, no cache [0-9.]+ ms\)/);
    const reach = Number(/predicted at ([0-9.]+)x/.exec((err as Error).message)![1]);
    expect(reach).toBeGreaterThan(best);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    // A time budget below the fastest candidate's time is refused the same way.
    await expect(runSearch(base(path.join(tmp(), 'o2'), { budget: { kind: 'time', msPerImage: 1e-9 } }))).rejects.toThrow(/--budget 1e-9ms cannot be met/);
  }, 600_000);
});
