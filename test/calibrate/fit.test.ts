/**
 * `ditto fit teacache|magcache` as a user runs it (spawned), on a tiny random DiT, and the
 * least-squares fit it relies on.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadProgram, lowerModel, resolveSchedule } from '../../compiler/frontend.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { rescaleSignal } from '../../compiler/ir/rules.ts';
import { parseMagnitudeCurve } from '../../compiler/schedule/magnitudeRule.ts';
import { leastSquaresPolynomial } from '../../evaluation/calibrate/fit.ts';
import { randomWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';

describe('least-squares polynomial', () => {
  it('recovers a polynomial from exact samples (highest degree first, the order rescale takes)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 5, maxLength: 5 }), fc.double({ min: 0.05, max: 3, noNaN: true }), (c, span) => {
        const points = Array.from({ length: 30 }, (_, i) => {
          const x = (span * (i + 1)) / 30;
          return { x, y: rescaleSignal(c, x) };
        });
        const got = leastSquaresPolynomial(points, 4);
        for (const { x, y } of points) expect(Math.abs(rescaleSignal(got, x) - y)).toBeLessThan(1e-6 * (1 + Math.abs(y)) + 1e-6);
      }),
      { numRuns: 50 },
    );
  });
});

describe('ditto fit (spawned)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ditto-fit-'));
  const weights = path.join(dir, 'tiny.safetensors');
  const graph = lowerModel(loadProgram('models/dit.ditto'), { model: 'DiT-Tiny', batch: 1 });
  writeSafetensors(weights, randomWeights(graphWeights(graph), 5));
  const base = ['models/dit.ditto', '--model', 'DiT-Tiny', '--weights', weights, '--steps', '8', '--samples', '2'];

  it('teacache writes a schedule that checks, resolves, holds the fitted rescaling and names its sampler', () => {
    const out = path.join(dir, 'tea.ditto');
    const r = runDitto(['fit', 'teacache', ...base, '--cfg', '2', '--threshold', '0.5', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*tea\.ditto \(schedule teacache_dit_tiny\): rescale\(/);
    // Fitted under the default sampler, DDPM: the schedule says so, and refuses DDIM.
    expect(readFileSync(out, 'utf8')).toMatch(/\n {2}steps 8\n {2}sampler ddpm\n/);
    const tiny2 = lowerModel(loadProgram('models/dit.ditto'), { model: 'DiT-Tiny', batch: 2 });
    expect(() => resolveSchedule(loadProgram(out), 'teacache_dit_tiny', tiny2, { sampler: 'ddim' })).toThrow(/`teacache_dit_tiny` was made for the ddpm sampler/);
    const schedule = resolveSchedule(loadProgram(out), 'teacache_dit_tiny', tiny2, { steps: 8, sampler: 'ddpm' });
    expect(schedule.dynamic[0]).toMatchObject({ signal: 'blocks[0].msa_in', threshold: 0.5 });
    expect(schedule.dynamic[0]!.rescale).toHaveLength(5);
    expect(runDitto(['check', out]).code).toBe(0);
  });

  it('magcache writes a curve per CFG branch that a magnitude rule reads', () => {
    const out = path.join(dir, 'curve.json');
    const r = runDitto(['fit', 'magcache', ...base, '--cfg', '2', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const curve = parseMagnitudeCurve(readFileSync(out, 'utf8'));
    if (typeof curve === 'string') throw new Error(curve);
    expect(curve.cond).toHaveLength(8);
    expect(curve.uncond).toHaveLength(8);
    expect(curve.cond[0]).toBe(1);
    expect(JSON.parse(readFileSync(out, 'utf8')).sampler).toBe('ddpm');
    const sched = path.join(dir, 'mag.ditto');
    writeFileSync(sched, `use "${path.resolve('models/dit.ditto')}"\nschedule m for DiT {\n  blocks[*] reuse residual when magnitude "curve.json" < 0.5 max 2 retain 0.25\n}\n`);
    expect(runDitto(['check', sched]).code).toBe(0);
  });

  it('refuses an unknown method, a wrong output extension, an unknown signal and the model file as output, writing nothing', () => {
    const r1 = runDitto(['fit', 'fastcache', ...base, '-o', path.join(dir, 'x.ditto')]);
    expect(looksLikeUserError(r1)).toBe(true);
    expect(r1.stderr).toMatch(/teacache, magcache/);
    const r2 = runDitto(['fit', 'magcache', ...base, '-o', path.join(dir, 'x.ditto')]);
    expect(looksLikeUserError(r2)).toBe(true);
    expect(r2.stderr).toContain('.json');
    const r3 = runDitto(['fit', 'teacache', ...base, '--signal', 'blocks[0].nope', '-o', path.join(dir, 'y.ditto')]);
    expect(looksLikeUserError(r3)).toBe(true);
    expect(r3.stderr).toContain('blocks[0].nope');
    expect(existsSync(path.join(dir, 'x.ditto')) || existsSync(path.join(dir, 'y.ditto'))).toBe(false);
    const model = readFileSync('models/dit.ditto', 'utf8');
    const r4 = runDitto(['fit', 'teacache', ...base, '-o', 'models/dit.ditto']);
    expect(looksLikeUserError(r4)).toBe(true);
    expect(readFileSync('models/dit.ditto', 'utf8')).toBe(model);
  });
});
