/**
 * `calibrate` on DiT-Tiny with random weights, 8 steps, 2 samples: the emitted schedule checks and
 * compiles, meets the budget, starts with a compute step, is deterministic, and the trajectory the
 * calibration followed is exactly what the reference executor samples under the emitted schedule.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiles, loadProgram, lowerModel, resolveSchedule } from '../../compiler/frontend.ts';
import { compile } from '../../compiler/pipeline.ts';
import { actionAt } from '../../compiler/ir/schedule.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { readNpyInts } from '../../compiler/schedule/npy.ts';
import { randomWeights } from '../../runtime/weights/index.ts';
import { noiseForRun } from '../../runtime/sampler/noise.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { calibrate, calibrationClasses, type CalibrateOptions } from '../../evaluation/calibrate/index.ts';
import { GreedyCalibration } from '../../evaluation/calibrate/search.ts';
import { TrajectoryModel } from '../../evaluation/calibrate/trajectory.ts';
import type { CacheState } from '../../evaluation/calibrate/states.ts';

const MODEL_FILE = path.resolve('models/dit.ditto');
const program = loadProgram(MODEL_FILE);
const graph1 = lowerModel(program, { model: 'DiT-Tiny', batch: 1 });
const weights = randomWeights(graphWeights(graph1), 3);
const STEPS = 8;

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'ditto-calibrate-'));
}

function run(extra: Partial<CalibrateOptions> & { output: string }) {
  return calibrate({ modelFile: MODEL_FILE, model: 'DiT-Tiny', weights, steps: STEPS, budget: 0.6, samples: 2, seed: 5, ...extra });
}

/** Sampling-order codes of a resolved table schedule, read back from its actions. */
function codesOf(out: string, name: string): number[] {
  const ir = resolveSchedule(loadProgram(out), name, graph1, { steps: STEPS });
  return ir.table.map((_, k) => {
    const attn = actionAt(ir, k, 'blocks[0].attn', 'cond').kind === 'reuse';
    const mlp = actionAt(ir, k, 'blocks[1].mlp', 'cond').kind === 'reuse';
    return attn && mlp ? 2 : attn ? 1 : mlp ? 3 : 0;
  });
}

describe('ditto calibrate (library)', () => {
  it('emits a table schedule that checks, compiles and meets the budget, first step compute', () => {
    const dir = tmp();
    const out = path.join(dir, 'cal.ditto');
    const r = run({ output: out });
    expect(checkFiles([out]).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/use "\.\.\/.*models\/dit\.ditto"/);
    expect(text).toContain('table "./cal.npy" order countdown');
    // The table was calibrated on a DDPM trajectory (the default): the schedule says so.
    expect(text).toMatch(/\n {2}steps 8\n {2}sampler ddpm\n/);
    // The .npy is int64 in count-down order; the schedule reads it back as the sampling-order table.
    expect(readNpyInts(r.tableFile)).toEqual(r.countdown);
    expect([...r.countdown].reverse()).toEqual(r.table);
    expect(codesOf(out, r.scheduleName)).toEqual(r.table);
    expect(r.table[0]).toBe(0);
    expect(r.table.some((s) => s !== 0)).toBe(true);
    const ir = resolveSchedule(loadProgram(out), r.scheduleName, graph1, { steps: STEPS });
    const plan = compile(graph1, ir, { steps: STEPS }).plan;
    expect(plan.cost.flopsRatio).toBeCloseTo(r.flopsRatio, 12);
    expect(r.flopsRatio).toBeLessThanOrEqual(0.6);
    // Single-module states follow the stage: 3 only while t > 0.4, 1 only after.
    r.table.forEach((s, k) => {
      const t = (STEPS - 1 - k) / STEPS;
      if (s === 3) expect(t).toBeGreaterThan(0.4);
      if (s === 1) expect(t).toBeLessThanOrEqual(0.4);
    });
  });

  it('budget 1 gives the all-compute table', () => {
    const out = path.join(tmp(), 'full.ditto');
    const r = run({ output: out, budget: 1 });
    expect(r.table).toEqual(Array(STEPS).fill(0));
    expect(r.flopsRatio).toBe(1);
    expect(r.scale).toBe(0);
  });

  it('tighter budgets give smaller ratios, each within its budget', () => {
    const dir = tmp();
    const ratios = [0.9, 0.6, 0.35].map((budget, n) => {
      const r = run({ output: path.join(dir, `b${n}.ditto`), budget });
      expect(r.flopsRatio).toBeLessThanOrEqual(budget);
      expect(r.table[0]).toBe(0);
      return r.flopsRatio;
    });
    expect(ratios[1]!).toBeLessThan(ratios[0]!);
    expect(ratios[2]!).toBeLessThan(ratios[1]!);
  });

  it('is deterministic for a seed (same table, byte-identical files)', () => {
    const [a, b] = [tmp(), tmp()].map((d) => path.join(d, 'same.ditto'));
    const ra = run({ output: a! });
    const rb = run({ output: b! });
    expect(rb.table).toEqual(ra.table);
    expect(rb.classes).toEqual(ra.classes);
    expect(readFileSync(b!)).toEqual(readFileSync(a!));
    expect(readFileSync(rb.tableFile)).toEqual(readFileSync(ra.tableFile));
  });

  it('follows the trajectory the reference executor samples under the emitted schedule (CFG, eps scale)', () => {
    const out = path.join(tmp(), 'traj.ditto');
    const opts = { output: out, cfgScale: 1.5, epsScale: '1 / 0.965', seed: 9, budget: 0.5 };
    const r = run(opts);
    expect(readFileSync(out, 'utf8')).toContain('eps_scale 1 / 0.965');
    const graph2 = lowerModel(program, { model: 'DiT-Tiny', batch: 4 });
    const ir = resolveSchedule(loadProgram(out), r.scheduleName, graph2, { steps: STEPS });
    const classes = calibrationClasses(9, 2, 10);
    expect(classes).toEqual(r.classes);
    const noise = noiseForRun(9, 2, [4, 8, 8], STEPS);
    const model = new TrajectoryModel({ graph: graph2, weights, steps: STEPS, sampler: 'ddpm', cfgScale: 1.5, classes, noise, epsScale: ir.epsScale });
    const mine = new GreedyCalibration(model).latents(r.table);
    const ref = sampleReference(graph2, weights, ir, { sampler: 'ddpm', cfgScale: 1.5, classes, seed: 9, noise }).latents.data;
    expect(Array.from(mine)).toEqual(Array.from(ref));
    // And the cache made a difference: the all-compute trajectory ends elsewhere.
    const full = new GreedyCalibration(model).latents(Array<CacheState>(STEPS).fill(0));
    expect(Array.from(full)).not.toEqual(Array.from(mine));
  });

  it('refuses bad options before any work and never leaves an output file', () => {
    const dir = tmp();
    const out = path.join(dir, 'bad.ditto');
    const cases: [Partial<CalibrateOptions>, RegExp][] = [
      [{ budget: 0 }, /--budget .* \(0, 1\]/],
      [{ budget: 1.5 }, /--budget/],
      [{ samples: 0 }, /--samples/],
      [{ steps: 0 }, /--steps/],
      [{ threshold: { a: 0, b: 0.1 } }, /--delta .*a must be > 0/],
      [{ threshold: { a: 0.1, b: -1 } }, /b must be ≥ 0/],
      [{ model: 'DiT-Teeny' }, /unknown model `DiT-Teeny`/],
      [{ budget: 0.01 }, /below the smallest FLOPs ratio/],
      [{ epsScale: '1 / ' }, /does not check \(see --eps-scale/],
      [{ output: path.join(dir, 'bad.txt') }, /-o must name a \.ditto file/],
    ];
    for (const [o, msg] of cases) {
      let err: unknown;
      try {
        run({ output: out, ...o });
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(o)).toBeDefined();
      expect((err as Error).name).toBe('DittoError');
      expect((err as Error).message).toMatch(msg);
    }
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
