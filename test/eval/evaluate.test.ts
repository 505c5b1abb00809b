import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { runEval } from '../../evaluation/eval/evaluate.ts';
import { evalJson, formatEvalTable, gridFileStem, writeEvalOutputs } from '../../evaluation/eval/report.ts';
import type { EvalConfig } from '../../evaluation/eval/types.ts';
import { evalError, ROOT, tempDir, tinyConfig } from './helpers.ts';


describe('runEval on the reference executor (random DiT-FMNIST weights, 3 steps)', async () => {
  const rep = await runEval(tinyConfig());
  const [base, none, fora] = rep.rows;

  it('has the baseline first, then the schedules in the order given', () => {
    expect(rep.rows.map((r) => r.name)).toEqual(['no cache', 'none', 'fora(N=2)']);
    expect(rep.rows.map((r) => r.schedule)).toEqual(['none', 'none', 'fora']);
    expect(rep.device).toBe('reference executor (CPU)');
    expect(rep.warmup).toBe(false);
  });

  it('samples N images per schedule with classes cycling from 0', () => {
    for (const r of rep.rows) {
      expect(r.images.shape).toEqual([4, 1, 28, 28]);
      expect(r.classes).toEqual([0, 1, 2, 3]);
      expect(r.images.data.every(Number.isFinite)).toBe(true);
    }
  });

  it('scores a schedule that computes everything as identical to the baseline (same noise)', () => {
    expect(Array.from(none!.images.data)).toEqual(Array.from(base!.images.data));
    expect(none!.psnr).toBe(Infinity);
    expect(none!.ssim).toBeCloseTo(1, 12);
    expect(none!.relativeL2).toBe(0);
    expect(base!.psnr).toBe(Infinity);
  });

  it('gives a caching schedule a finite PSNR and a non-zero difference', () => {
    expect(Number.isFinite(fora!.psnr)).toBe(true);
    expect(fora!.relativeL2).toBeGreaterThan(0);
    expect(fora!.ssim!).toBeLessThan(1);
  });

  it('reports finite FID, accuracy in [0, 1] and positive speed-ups', () => {
    for (const r of rep.rows) {
      expect(Number.isFinite(r.fid)).toBe(true);
      expect(r.fid!).toBeGreaterThanOrEqual(0);
      expect(r.accuracy!).toBeGreaterThanOrEqual(0);
      expect(r.accuracy!).toBeLessThanOrEqual(1);
      expect(r.seconds).toBeGreaterThan(0);
      expect(Number.isFinite(r.speedup) && r.speedup > 0).toBe(true);
      expect(r.predictedSpeedup).toBeNull();
    }
    expect(base!.speedup).toBe(1);
    expect(rep.notes.join('\n')).toMatch(/biased/);
  });

  it('writes a grid per schedule, table.md and eval.json', () => {
    const dir = tempDir();
    const files = writeEvalOutputs(rep, dir);
    expect(Object.keys(files.grids)).toEqual(['no cache', 'none', 'fora(N=2)']);
    expect(path.basename(files.grids['fora(N=2)']!)).toBe('fora_N_2.png');
    const png = PNG.sync.read(readFileSync(files.grids['no cache']!));
    // 4 images of one class each → 4 columns, 1 row, 2-pixel padding around.
    expect([png.width, png.height]).toEqual([4 * 28 + 5 * 2, 28 + 2 * 2]);
    const md = readFileSync(files.table, 'utf8');
    expect(md).toMatch(/\| schedule \| FID \|/);
    expect(md).toContain('| fora(N=2) |');
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    expect(json.rows).toHaveLength(3);
    expect(json.rows[0].psnr).toBeNull();
    expect(json.rows[2].psnr).toBeCloseTo(fora!.psnr, 10);
    expect(json.rows[0].images).toBeUndefined();
    expect(json.grids['no cache']).toBe(files.grids['no cache']);
  });

  it('prints one aligned row per schedule, ∞ for identical images', () => {
    const text = formatEvalTable(rep, 'text');
    const lines = text.split('\n');
    const head = lines.findIndex((l) => l.startsWith('schedule'));
    expect(lines[head + 1]).toMatch(/^no cache\s+\d+\.\d\d\s+\d+\.\d%\s+∞\s+1\.0000\s+1\.00x\s+—/);
    expect(lines[head + 3]).toMatch(/^fora\(N=2\)/);
    expect(JSON.stringify(evalJson(rep))).not.toContain('"images"');
  });
});

describe('runEval with a FID bootstrap', () => {
  it('adds FID standard errors and paired ΔFID intervals, exactly zero for a schedule that changes nothing', async () => {
    const rep = await runEval(tinyConfig({ bootstrap: 6 }));
    expect(rep.bootstrap).toBe(6);
    const [base, none, fora] = rep.rows;
    expect(base!.fidDelta).toBeNull();
    expect(none!.fidDelta).toEqual({ lo: 0, hi: 0 });
    expect(fora!.fidDelta!.lo).toBeLessThanOrEqual(fora!.fidDelta!.hi);
    for (const r of rep.rows) expect(r.fidSd).toBeGreaterThanOrEqual(0);
    // The bootstrap only adds columns: the full-sample FIDs are those of a run without it.
    const plain = await runEval(tinyConfig());
    expect(rep.rows.map((r) => r.fid)).toEqual(plain.rows.map((r) => r.fid));
    expect(plain.rows.every((r) => r.fidSd === null && r.fidDelta === null)).toBe(true);
    const text = formatEvalTable(rep, 'text');
    expect(text).toMatch(/FID ± se +ΔFID 95%/);
    expect(text).toMatch(/none +\d+\.\d\d ± \d+\.\d\d +\[\+0\.00, \+0\.00\]/);
    expect(text).toContain('6 paired bootstrap resamples');
    expect(formatEvalTable(plain, 'text')).not.toContain('ΔFID');
  });

  it('says why there is no bootstrap when FID is off', async () => {
    const rep = await runEval(tinyConfig({ bootstrap: 4, fid: false, schedules: ['fora(N=2)'], steps: 2 }));
    expect(rep.bootstrap).toBeNull();
    expect(rep.notes.join('\n')).toMatch(/no FID bootstrap/);
  });
});

describe('runEval inputs', () => {
  it('runs with CFG, an uneven last batch and no FID', async () => {
    const rep = await runEval(tinyConfig({ schedules: ['fora(N=2)'], samples: 3, batch: 2, cfgScale: 2, steps: 2, fid: false }));
    expect(rep.rows[0]!.images.shape[0]).toBe(3);
    expect(rep.rows[0]!.classes).toEqual([0, 1, 2]);
    expect(rep.rows[0]!.fid).toBeNull();
    expect(rep.rows[0]!.accuracy).not.toBeNull();
    expect(rep.cfgScale).toBe(2);
  });

  it('rejects an unknown schedule, naming it', async () => {
    const e = await evalError(tinyConfig({ schedules: ['forra(N=2)'] }));
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toMatch(/--schedules 'forra\(N=2\)'.*unknown schedule `forra`/);
  });

  it('rejects a fixed-length table at another step count, saying which steps it needs', async () => {
    const e = await evalError(tinyConfig({ schedules: ['ebcache_table'] }));
    expect(e.code).toBe('E_TABLE');
    expect(e.message).toMatch(/'ebcache_table' at 3 steps: .*50 entries.*--steps/);
  });

  it('rejects a latent model', async () => {
    const e = await evalError(tinyConfig({ modelFile: path.join(ROOT, 'models/dit.ditto'), model: undefined, set: { depth: 1, hidden: 32, heads: 2, latent: 8, classes: 10 } }));
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toMatch(/4-channel latents, not pictures.*pixel-space models only/);
  });

  it('points at the pixel variant when --model is missing on fmnist.ditto', async () => {
    const e = await evalError(tinyConfig({ model: undefined }));
    expect(e.message).toMatch(/did you mean --model DiT-FMNIST/);
  });

  it.each([
    [{ samples: 0 }, /--samples must be a whole number ≥ 1/],
    [{ batch: 0 }, /--batch must be/],
    [{ seed: 2 ** 32 - 1, samples: 4, batch: 2 }, /runs past the largest seed/],
    [{ schedules: ['no cache'] }, /baseline every eval runs/],
  ])('rejects %j', async (over, msg) => {
    const e = await evalError(tinyConfig(over as Partial<EvalConfig>));
    expect(e.message).toMatch(msg);
  });

  it('turns a schedule spec into a file name', () => {
    expect(gridFileStem('no cache')).toBe('no-cache');
    expect(gridFileStem('fora(N=2)')).toBe('fora_N_2');
    expect(gridFileStem('models/schedules/fora.ditto:fora(N=3)')).toBe('models-schedules-fora-fora_N_3');
  });
});
