/**
 * `ditto retime`: the retimed table is the source's at the nearest trajectory point, the identity at
 * the same step count, and its schedule text resolves to exactly the retimed schedule — for shipped
 * static and dynamic schedules at random step counts. The verb as a user runs it, and its refusals.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadProgram, lowerModel, resolveSchedule } from '../../compiler/frontend.ts';
import { retimeIndex, retimeSchedule, scheduleText } from '../../compiler/schedule/retime.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';
import { retime } from '../../index.ts';

const dit = loadProgram('models/dit.ditto');
const graph = lowerModel(dit, { model: 'DiT-Tiny', batch: 2 });
const SPECS = ['fora(N=3)', 'fastercache', 'fastercache_attn', 'taylorseer', 'foca', 'exp_forecast', 'ebcache_table', 'fora_cfg', 'dbcache', 'teacache', 'teacache_branches', 'magcache', 'pab', 'delta_dit'];

describe('retime', () => {
  it('maps every step to the nearest trajectory point, keeps the ends, and writes a file that resolves to the same schedule', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-retime-'));
    fc.assert(
      fc.property(fc.constantFrom(...SPECS), fc.integer({ min: 2, max: 80 }), (spec, N) => {
        const source = resolveSchedule(dit, spec, graph, {});
        const r = retimeSchedule(source, N);
        expect(r.steps).toBe(N);
        expect(retimeIndex(0, source.steps, N)).toBe(0);
        expect(retimeIndex(N - 1, source.steps, N)).toBe(source.steps - 1);
        r.table.forEach((row, k) => {
          const want = source.table[retimeIndex(k, source.steps, N)]!;
          expect(Object.keys(row)).toEqual(Object.keys(want));
          for (const [p, acts] of Object.entries(row)) {
            for (const b of ['cond', 'uncond'] as const) {
              const w = want[p]![b];
              // A forecast keeps its order where the retimed history feeds it (order 0 = reuse).
              if (w.kind === 'forecast') expect(acts[b].kind === 'reuse' || (acts[b].kind === 'forecast' && (acts[b] as { order: number }).order <= w.order)).toBe(true);
              else expect(acts[b]).toEqual(w);
            }
          }
        });
        if (N === source.steps) expect(r).toEqual({ ...source, dynamic: source.dynamic });
        const file = path.join(dir, `${spec.replace(/\W/g, '')}_${N}.ditto`);
        const text = scheduleText(r, { name: 'retimed', use: path.resolve('models/dit.ditto'), comment: ['test'] });
        const prog = loadProgram(file, { inline: new Map([[file, text]]) });
        const back = resolveSchedule(prog, 'retimed', graph, {});
        expect(back.table).toEqual(r.table);
        expect(back.epsScale).toEqual(r.epsScale);
        expect(back.dynamic).toEqual(r.dynamic);
      }),
      { numRuns: 40, seed: 21 },
    );
  }, 600_000);

  it('keeps forecasting: a step a row leaves out computes and feeds the forecast history (foca and exp too)', () => {
    for (const spec of ['taylorseer', 'foca', 'exp_forecast', 'hicache']) {
      const source = resolveSchedule(dit, spec, graph, {});
      const r = retimeSchedule(source, 20);
      const forecasts = r.table.flatMap((row) => Object.values(row).filter((a) => a.cond.kind === 'forecast'));
      expect(forecasts.length, spec).toBeGreaterThan(0);
      if (spec === 'foca' || spec === 'exp_forecast') expect(scheduleText(r, { name: 'retimed', use: path.resolve('models/dit.ditto'), comment: [] })).toMatch(spec === 'foca' ? /forecast foca/ : /forecast exp/);
    }
  });

  it('writes each step\'s linear weight: a rising ramp retimed reads back as the same table', () => {
    const r = retimeSchedule(resolveSchedule(dit, 'fastercache_attn', graph, {}), 30);
    const text = scheduleText(r, { name: 'retimed', use: path.resolve('models/dit.ditto'), comment: [] });
    const weights = [...text.matchAll(/forecast linear\(([\d.]+)\)/g)].map((m) => Number(m[1]));
    expect(weights.length).toBeGreaterThan(3);
    expect(weights.every((w, j) => j === 0 || w > weights[j - 1]!)).toBe(true);
    const file = path.resolve('models/retimed_linear.ditto');
    const back = resolveSchedule(loadProgram(file, { inline: new Map([[file, text]]) }), 'retimed', graph, {});
    expect(back.table).toEqual(r.table);
  });

  it('drops a dynamic rule that no step is left to decide, and renumbers the rest', () => {
    // TeaCache computes its first and last steps: at 2 steps its rule decides nothing.
    const two = retimeSchedule(resolveSchedule(dit, 'teacache', graph, {}), 2);
    expect(two.dynamic).toEqual([]);
    expect(two.table.every((row) => Object.values(row).every((a) => a.cond.kind !== 'dynamic' && a.uncond.kind !== 'dynamic'))).toBe(true);
    const four = retimeSchedule(resolveSchedule(dit, 'teacache', graph, {}), 4);
    expect(four.dynamic).toHaveLength(1);
    expect(four.table.some((row) => Object.values(row).some((a) => a.cond.kind === 'dynamic' && a.cond.rule === 0))).toBe(true);
  });

  it('scales the step counts of a dynamic rule and keeps its threshold', () => {
    const source = resolveSchedule(dit, 'dbcache', graph, { set: { warm: 4, most: 3, cached: 20 } });
    const r = retimeSchedule(source, 100);
    expect(r.dynamic[0]).toMatchObject({ threshold: source.dynamic[0]!.threshold, warmup: 8, maxConsecutive: 6, maxReused: 40 });
  });
});

describe('retime from the Node API', () => {
  it('returns the source and retimed schedules, the checked text and both predictions', () => {
    const r = retime('fora(N=3)', { steps: 20 });
    expect(r.source.steps).toBe(50);
    expect(r.retimed.steps).toBe(20);
    expect(r.text).toContain('schedule fora_20 for DiT');
    expect(r.after.steps).toBe(20);
    expect(r.after.predictedSpeedup).toBeGreaterThan(1);
  }, 300_000);
});

describe('ditto retime (spawned)', () => {
  it('prints the predicted speed-up at both step counts and writes a schedule that checks', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-retime-cli-'));
    const out = path.join(dir, 'fora20.ditto');
    const r = runDitto(['retime', 'fora(N=3)', '--steps', '20', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fora: 50 steps → 20 steps \(model DiT-FMNIST\)/);
    expect(r.stdout).toMatch(/at 50 steps: FLOPs ratio 0\.\d{3}, predicted \d\.\d\dx/);
    expect(r.stdout).toMatch(/at 20 steps: FLOPs ratio 0\.\d{3}, predicted \d\.\d\dx/);
    expect(runDitto(['check', out]).code).toBe(0);
  }, 300_000);

  it('refuses a bad step count, an unknown schedule and a non-.ditto output, writing nothing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-retime-bad-'));
    const r1 = runDitto(['retime', 'fora', '--steps', '0']);
    expect(looksLikeUserError(r1)).toBe(true);
    expect(r1.stderr).toContain('--steps');
    const r2 = runDitto(['retime', 'forra', '--steps', '20']);
    expect(looksLikeUserError(r2)).toBe(true);
    expect(r2.stderr).toContain('unknown schedule `forra`');
    const r3 = runDitto(['retime', 'fora', '--steps', '20', '-o', path.join(dir, 'x.json')]);
    expect(looksLikeUserError(r3)).toBe(true);
    expect(existsSync(path.join(dir, 'x.json'))).toBe(false);
  }, 300_000);
});
