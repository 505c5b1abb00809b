import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadProgram, lowerModel, resolveSchedule, schedulesDeclaredIn } from '../../compiler/frontend.ts';
import { actionAt, type ScheduleIR } from '../../compiler/ir/schedule.ts';
import { ebcacheLegacyTable, foraTable } from '../../compiler/schedule/generators.ts';
import { readNpyInts } from '../../compiler/schedule/npy.ts';
import { DittoError } from '../../core/errors.ts';

const file = (name: string) => `models/schedules/${name}.ditto`;

/** Per step (sampling order) the EB-Cache code of a block: 0 both compute, 1 attn reused, 2 both, 3 mlp. */
function codes(s: ScheduleIR, block = 'blocks[0]', branch: 'cond' | 'uncond' = 'cond'): string {
  return Array.from({ length: s.steps }, (_, k) => {
    const a = actionAt(s, k, `${block}.attn`, branch).kind !== 'compute';
    const m = actionAt(s, k, `${block}.mlp`, branch).kind !== 'compute';
    return a && m ? '2' : a ? '1' : m ? '3' : '0';
  }).join('');
}

function fullSteps(s: ScheduleIR): number {
  return [...codes(s)].filter((c) => c === '0').length;
}

const dit = loadProgram('models/dit.ditto');
const graph = lowerModel(dit, { model: 'DiT', batch: 1 });
const tiny = lowerModel(dit, { model: 'DiT-Tiny', batch: 1 });
const resolve = (name: string, schedule = name, opts: { steps?: number; set?: Record<string, number> } = {}, g = graph) =>
  resolveSchedule(loadProgram(file(name)), schedule, g, opts);

describe('EB-Cache tables', () => {
  it('the released table in countdown orientation: 22 full steps, alternating, then 2,2,2,0,2,2,0,2,2,0', () => {
    const s = resolve('ebcache-table', 'ebcache_table');
    expect(codes(s)).toBe('0'.repeat(22) + '20'.repeat(9) + '2220220220');
    expect(fullSteps(s)).toBe(34);
    // The same decision for every block and both CFG branches.
    expect(codes(s, 'blocks[27]', 'uncond')).toBe(codes(s));
    expect(s.epsScale.every((v) => Math.abs(v - 1 / 0.965) < 1e-12)).toBe(true);
  });

  it('the released table in sampling orientation is its reversal', () => {
    const s = resolve('ebcache-table', 'ebcache_table_sampling');
    expect(codes(s)).toBe([...codes(resolve('ebcache-table', 'ebcache_table'))].reverse().join(''));
  });

  it('the legacy rule reversed equals the released table', () => {
    const released = readNpyInts('models/schedules/cache_table.npy');
    expect([...ebcacheLegacyTable(50, 1)].reverse()).toEqual(released);
    expect(codes(resolve('ebcache-legacy', 'ebcache_legacy_reversed'))).toBe(codes(resolve('ebcache-table', 'ebcache_table')));
    expect(codes(resolve('ebcache-legacy', 'ebcache_legacy'))).toBe('022022022' + '20'.repeat(10) + '0'.repeat(21));
  });

  it('legacy rule full-step counts at S = 50: N=1 → 34, N=2 → 22, N=3 → 18', () => {
    for (const [n, full] of [[1, 34], [2, 22], [3, 18]] as const) {
      expect(fullSteps(resolve('ebcache-legacy', 'ebcache_legacy', { set: { N: n } }))).toBe(full);
    }
  });

  it('b(t) in both directions: the paper\'s exponential form, 1 at t = 1, b_h at the threshold, → b_l (t = i/S)', () => {
    const mul = resolve('ebcache-bt', 'ebcache_bt_multiply');
    const div = resolve('ebcache-bt', 'ebcache_bt_divide');
    const b = (t: number) => (t > 0.4 ? 0.98 + 0.02 * Math.exp((-5 * (1 - t)) / 0.6) : 0.96 + 0.02 * Math.exp((5 * (t - 0.4)) / 0.6));
    for (let k = 0; k < 50; k++) {
      const t = (49 - k) / 50;
      expect(mul.epsScale[k]).toBeCloseTo(b(t), 12);
      expect(div.epsScale[k]).toBeCloseTo(1 / b(t), 12);
    }
    // k = 29 → i = 20, t = 0.4 exactly: the late branch, at b_h.
    expect(mul.epsScale[29]).toBeCloseTo(0.98, 12);
    expect(mul.epsScale[0]).toBeGreaterThan(0.995);
    expect(mul.epsScale[49]).toBeCloseTo(0.96 + 0.02 * Math.exp(-10 / 3), 12);
    // Decreasing along the trajectory.
    for (let k = 1; k < 50; k++) expect(mul.epsScale[k]!).toBeLessThanOrEqual(mul.epsScale[k - 1]!);
  });

  it('b(t) with shape: step is b_h while t > 0.4 and b_l after', () => {
    const prog = loadProgram('/tmp/ditto-bt-step.ditto', { inline: new Map([['/tmp/ditto-bt-step.ditto',
      `use "${process.cwd()}/models/dit.ditto"\nschedule s for DiT {\n  steps 50\n  eps_scale piecewise(high: 0.98, low: 0.96, threshold: 0.4, shape: step)\n}\n`]]) });
    const s = resolveSchedule(prog, 's', graph);
    expect(s.epsScale[28]).toBe(0.98);
    expect(s.epsScale[29]).toBe(0.96);
    expect(s.epsScale.filter((v) => v === 0.98)).toHaveLength(29);
  });

  it('the paper\'s separated caching uses code 3 early and code 1 late', () => {
    const c = codes(resolve('ebcache-bt', 'ebcache_separate'));
    expect(c.slice(0, 4)).toBe('0303');
    expect(c.slice(-4)).toBe('0101');
  });
});

describe('FORA', () => {
  it('N = 2 / 3 / 4 gives 26 / 18 / 14 full steps at S = 50, first two steps computing', () => {
    for (const [n, full] of [[2, 26], [3, 18], [4, 14]] as const) {
      const s = resolve('fora', 'fora', { set: { N: n } });
      expect(fullSteps(s)).toBe(full);
      expect(codes(s)).toBe(codes(resolve('fora', 'fora_table', { set: { N: n } })));
      expect(codes(s)).toBe([...foraTable(50, n)].reverse().join(''));
    }
    expect(codes(resolve('fora', 'fora', { set: { N: 2 } })).slice(0, 6)).toBe('002020');
    expect(codes(resolve('fora', 'fora', { set: { N: 3 } })).slice(0, 7)).toBe('0022022');
  });

  it('steps override regenerates the rule for another step count', () => {
    const s = resolve('fora', 'fora', { steps: 20, set: { N: 2 } });
    expect(s.steps).toBe(20);
    expect(fullSteps(s)).toBe(11);
  });
});

describe('other methods', () => {
  it('none computes everything', () => {
    const s = resolve('none');
    expect(s.table.every((row) => Object.keys(row).length === 0)).toBe(true);
    expect(s.epsScale.every((v) => v === 1)).toBe(true);
  });

  it('Δ-DiT reuses rear block residuals early and front ones late', () => {
    const s = resolve('delta-dit', 'delta_dit');
    expect(actionAt(s, 1, 'blocks[20]', 'cond')).toEqual({ kind: 'reuse_residual' });
    expect(actionAt(s, 1, 'blocks[3]', 'cond')).toEqual({ kind: 'compute' });
    expect(actionAt(s, 2, 'blocks[20]', 'cond')).toEqual({ kind: 'compute' });
    expect(actionAt(s, 11, 'blocks[3]', 'cond')).toEqual({ kind: 'reuse_residual' });
    expect(actionAt(s, 11, 'blocks[20]', 'cond')).toEqual({ kind: 'compute' });
  });

  it('TaylorSeer forecasts with the given order after full first steps', () => {
    const s = resolve('taylorseer', 'taylorseer', { set: { degree: 1 } });
    expect(actionAt(s, 2, 'blocks[0].attn', 'cond')).toEqual({ kind: 'compute' });
    expect(actionAt(s, 3, 'blocks[0].mlp', 'cond')).toEqual({ kind: 'forecast', order: 1 });
    expect(actionAt(s, 4, 'blocks[0].mlp', 'cond')).toEqual({ kind: 'compute' });
  });

  it('PAB reuses attention only inside its window', () => {
    const c = codes(resolve('pab'));
    expect(c).toMatch(/^[01]+$/);
    // t = i/S: t ≤ 0.9 from k = 5, t > 0.3 up to k = 34.
    expect(c.slice(0, 6)).toBe('000001');
    expect(c.slice(34)).toBe('0'.repeat(16));
  });

  it('SmoothCache JSON lists drive attention and MLP', () => {
    const s = resolve('smoothcache');
    expect(codes(s).slice(0, 12)).toBe('000001013132');
  });

  it('per-branch rules differ between cond and uncond', () => {
    const s = resolve('cfg-branches', 'fora_cfg');
    expect(codes(s, 'blocks[0]', 'cond').slice(0, 5)).toBe('02020');
    expect(codes(s, 'blocks[0]', 'uncond').slice(0, 5)).toBe('02220');
  });

  it('the first-block rule is dynamic, on block 0 output, for blocks 1..', () => {
    const s = resolve('first-block', 'first_block', {}, tiny);
    expect(s.dynamic).toEqual([{ signal: 'blocks[0].h', metric: 'rel_l1', threshold: 0.08, warmup: 3, maxConsecutive: 3, then: 'reuse_residual' }]);
    expect(actionAt(s, 0, 'blocks[1]', 'uncond')).toEqual({ kind: 'dynamic', rule: 0 });
    expect(actionAt(s, 0, 'blocks[0]', 'cond')).toEqual({ kind: 'compute' });
  });

  it('every shipped schedule resolves for DiT-XL/2 and the tiny DiT', () => {
    const names: string[] = [];
    for (const f of ['none', 'fora', 'ebcache-table', 'ebcache-legacy', 'ebcache-bt', 'delta-dit', 'taylorseer', 'pab', 'smoothcache', 'first-block', 'cfg-branches', 'hicache', 'foca', 'exp-forecast']) {
      const p = loadProgram(file(f));
      for (const s of schedulesDeclaredIn(p, file(f))) {
        names.push(s.name);
        expect(resolveSchedule(p, s.name, lowerModel(p, { model: 'DiT-XL/2', batch: 1 })).steps).toBe(50);
        expect(resolveSchedule(p, s.name, tiny).model).toBe('DiT');
      }
    }
    expect(names.length).toBeGreaterThanOrEqual(17);
  });

  it('a schedule can be given as the path of a file with one schedule', () => {
    expect(resolveSchedule(dit, file('pab'), graph).name).toBe('pab');
    expect(() => resolveSchedule(dit, file('fora'), graph)).toThrow(/declares 2 schedules; name one with .*:NAME, one of: fora, fora_table/);
    expect(() => resolveSchedule(dit, 'foar', graph)).toThrow(DittoError);
  });

  it('the same file written another way (./…, absolute) names the same schedules', () => {
    for (const written of [`./${file('pab')}`, path.resolve(file('pab'))]) expect(resolveSchedule(dit, written, graph).name).toBe('pab');
    expect(() => resolveSchedule(dit, `./${file('fora')}`, graph)).toThrow(/declares 2 schedules; .*one of: fora, fora_table/);
    // A file's own schedules, not those of the files it `use`s (fora.ditto uses dit.ditto, which has none).
    const fora = loadProgram(file('fora'));
    expect(schedulesDeclaredIn(fora, `./${file('fora')}`).map((s) => s.name)).toEqual(['fora', 'fora_table']);
    expect(schedulesDeclaredIn(fora, 'models/dit.ditto')).toEqual([]);
  });
});

describe('require', () => {
  const src = (body: string, params = 'N = 3') => `use "dit.ditto"\nschedule r(${params}) for DiT {\n${body}\n  blocks[*].attn reuse at k % N != 0\n}\n`;
  const inline = (text: string) => loadProgram('models/req.ditto', { inline: new Map([['models/req.ditto', text]]) });
  const fails = (text: string, set?: Record<string, number>): DittoError => {
    try {
      resolveSchedule(inline(text), 'r', tiny, { steps: 10, ...(set ? { set } : {}) });
    } catch (e) {
      expect(e).toBeInstanceOf(DittoError);
      return e as DittoError;
    }
    throw new Error('resolved');
  };

  it('passes when every requirement holds, and changes nothing', () => {
    const withReq = resolveSchedule(inline(src('  require N >= 1 and N < S "why"')), 'r', tiny, { steps: 10 });
    const without = resolveSchedule(inline(src('')), 'r', tiny, { steps: 10 });
    expect(withReq).toEqual(without);
  });

  it('refuses parameters that break one, showing the condition, the values read and the reason', () => {
    const e = fails(src('  require N >= 1 and N < S "the interval counts steps"'), { N: -3 });
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toBe('schedule `r` requires N >= 1 and N < S, but N = -3, S = 10: the interval counts steps');
    expect(fails(src('  require N < S'), { N: 12 }).message).toMatch(/requires N < S, but N = 12, S = 10$/);
  });

  it('applies to defaults under check, and refuses numbers, steps and branch placement', () => {
    expect(fails(src('  require N >= 1', 'N = 0')).message).toMatch(/but N = 0/);
    expect(fails(src('  require N + 1')).message).toMatch(/a requirement must be a condition, found a number/);
    expect(fails(src('  require k > 0')).message).toMatch(/k/);
    expect(fails(src('  cond {\n    require N > 0\n  }')).message).toMatch(/`require` belongs at the top of the schedule/);
  });

  it('guards the shipped fora and pab', () => {
    const lib = (name: string, set: Record<string, number>) => () => resolve(name, name, { set });
    expect(lib('fora', { N: -3 })).toThrow(/schedule `fora` requires N >= 1 and N % 1 == 0, but N = -3/);
    expect(lib('fora', { N: 2.5 })).toThrow(/but N = 2\.5/);
    expect(lib('pab', { lo: 0.9, hi: 0.3 })).toThrow(/schedule `pab` requires 0 <= lo and lo < hi and hi <= 1, but lo = 0\.9, hi = 0\.3/);
    expect(fullSteps(resolve('fora', 'fora', { set: { N: 2 } }))).toBe(26);
  });
});
