/**
 * `ditto bench` as a user runs it (a spawned process): on DiT-Tiny with 3 steps, one run and no
 * peer, it writes a well-formed report (md, json, svg) with every per-schedule field; bad flags exit
 * 1 with a user error and no stack trace, before anything slow runs.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { looksLikeUserError, ROOT, runDitto } from '../cli/helpers.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const gpu = await gpuOrSkip();
const DIT_FILE = path.join(ROOT, 'models', 'dit.ditto');
const TINY = [DIT_FILE, '--model', 'DiT-Tiny', '--peer', 'none'];
const dir = mkdtempSync(path.join(tmpdir(), 'ditto-bench-'));

describe.skipIf(!gpu)('ditto bench (spawned)', () => {
  it('benchmarks FORA against the baseline on DiT-Tiny and writes report.md, report.json and the plot', () => {
    const out = path.join(dir, 'tiny');
    const r = runDitto(['bench', ...TINY, '--schedules', 'fora(N=2)', '--steps', '3', '--runs', '1', '--cfg', '2', '--out-dir', out]);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['report.md', 'report.json', 'speed-fidelity.svg']) expect(existsSync(path.join(out, f))).toBe(true);

    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.meta.adapter).toBe(gpu!.report.name);
    expect(report.meta['load average (1/5/15 min) before']).toMatch(/^\d+\.\d\d \/ /);
    const rows = report.data.rows as Record<string, any>[];
    expect(rows.map((x) => x.name)).toEqual(['no cache', 'fora(N=2)']);
    const [base, fora] = rows as [Record<string, any>, Record<string, any>];
    // The baseline against itself: identical output, speed-up 1, nothing predicted.
    expect(base.fidelity.psnr).toBe('Infinity');
    expect(base.fidelity.relativeL2).toBe(0);
    expect(base.speedup).toBe(1);
    expect(base.predictedSpeedup).toBe(1);
    // FORA(2) over 3 steps reuses at the middle step: less work, a different but close output.
    // The roofline is fixed by the plan; the calibrated prediction rests on kernel times measured
    // here (possibly under load), so only its consistency is asserted.
    expect(fora.rooflineSpeedup).toBeGreaterThan(1);
    expect(fora.predictedSpeedup).toBeGreaterThan(0);
    expect(fora.realisedRoofline).toBeCloseTo(fora.speedup / fora.rooflineSpeedup, 9);
    expect(fora.measuredShare).toBeGreaterThan(0);
    // The kernel times the predictions came from, measured on probe plans, are in report.json.
    expect(report.data.kernelTimesOrigin).toBe('measured here');
    expect(report.data.kernelTimes.source).toBe('measured');
    expect(report.data.kernelTimes.samples).toBeGreaterThan(0);
    expect(Object.keys(report.data.kernelTimes.allComputeStepMs)).toHaveLength(1);
    expect(fora.flopsRatio).toBeLessThan(1);
    expect(fora.dispatches).toBeLessThan(base.dispatches);
    expect(fora.fidelity.relativeL2).toBeGreaterThan(0);
    expect(fora.fidelity.relativeL2).toBeLessThan(0.5);
    expect(Number.isFinite(fora.fidelity.psnr)).toBe(true);
    expect(fora.fidelity.ssim).toBeNull(); // latents, not images
    expect(fora.realised).toBeCloseTo(fora.speedup / fora.predictedSpeedup, 9);
    for (const row of rows) {
      expect(row.samples).toHaveLength(1);
      expect(row.roundSpeedups[0]).toBeCloseTo(row.speedup, 12); // one round: paired = medians
      expect(row.perImage.median).toBeGreaterThan(0);
      expect(row.peakMemoryBytes).toBeGreaterThan(0);
      expect(row.hostPerStepSeconds).toBeGreaterThan(0);
      expect(row.hostShare).toBeGreaterThan(0);
    }
    expect(fora.peakMemoryBytes).toBeGreaterThan(base.peakMemoryBytes); // the cache slots

    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain(gpu!.report.name);
    expect(md).toMatch(/\| fora\(N=2\) \|/);
    expect(md).toContain('Targets (issue 8)');
    const svg = readFileSync(path.join(out, 'speed-fidelity.svg'), 'utf8');
    expect(svg).toMatch(/^(<\?xml[^>]*>\s*)?<svg /);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('fora(N=2)');
  }, 600_000);

  const bad: [string, string[], RegExp][] = [
    ['zero runs', ['--runs', '0'], /--runs/],
    ['a word for --steps', ['--steps', 'many'], /--steps/],
    ['an unknown schedule', ['--schedules', 'fora(N=2),no_such_schedule'], /no_such_schedule/],
    ['a table schedule at the wrong step count', ['--schedules', 'ebcache_table', '--steps', '3'], /ebcache_table.*--steps/s],
    ['an unknown peer', ['--peer', 'tensorrt'], /tensorrt|peer/],
    ['a non-numeric CFG scale', ['--cfg', 'strong'], /--cfg/],
    ['an unknown model', ['--model', 'DiT-Huge'], /DiT-Huge/],
  ];
  it.each(bad)('rejects %s with exit 1 and a clear message', (_name, args, message) => {
    // The flag under test comes last so that it overrides the defaults in TINY.
    const r = runDitto(['bench', ...TINY, '--steps', '2', '--runs', '1', '--out-dir', path.join(dir, 'bad'), ...args]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
    expect(looksLikeUserError(r)).toBe(true);
    expect(existsSync(path.join(dir, 'bad', 'report.json'))).toBe(false);
  }, 600_000);
});
