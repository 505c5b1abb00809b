/**
 * `ditto eval --resume`: an interrupted or extended evaluation must score exactly the images a
 * single uninterrupted run would have sampled, and saved batches from other settings must never be
 * mixed in.
 */
import { describe, expect, it } from 'vitest';
import { appendFileSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runEval } from '../../evaluation/eval/evaluate.ts';
import { PROGRESS_DIR } from '../../evaluation/eval/progressStore.ts';
import { registerEval } from '../../cli/commands/eval.ts';
import type { EvalConfig, EvalReport } from '../../evaluation/eval/types.ts';
import { runInProcess } from '../cli/helpers.ts';
import { evalError, FMNIST, MODEL, tempDir, tinyConfig, writeRandomWeightsFile } from './helpers.ts';

const cfg = (over: Partial<EvalConfig> = {}) => tinyConfig({ schedules: ['fora(N=2)'], steps: 2, ...over });
const imagesOf = (r: EvalReport) => r.rows.map((row) => Array.from(row.images.data));

describe('eval --resume', async () => {
  const straight = await runEval(cfg({ samples: 6 }));

  it('gives the same images as one uninterrupted run when a run is extended batch by batch', async () => {
    const dir = tempDir();
    const first = await runEval(cfg({ samples: 2, resumeDir: dir }));
    expect(first.notes.join('\n')).not.toMatch(/resumed/);
    const second = await runEval(cfg({ samples: 4, resumeDir: dir }));
    expect(second.notes.join('\n')).toMatch(/resumed from .*eval-progress: 1 of 2 batches/);
    const third = await runEval(cfg({ samples: 6, resumeDir: dir }));
    expect(imagesOf(third)).toEqual(imagesOf(straight));
    expect(third.rows.map((r) => r.fid)).toEqual(straight.rows.map((r) => r.fid));
    expect(third.rows.every((r) => r.seconds > 0)).toBe(true);
    // Asking again for what is saved samples nothing new and scores the same images.
    const again = await runEval(cfg({ samples: 6, resumeDir: dir }));
    expect(again.notes.join('\n')).toMatch(/3 of 3 batches/);
    expect(imagesOf(again)).toEqual(imagesOf(straight));
  });

  it('drops a batch that was appended but never counted (a crash between the two writes)', async () => {
    const dir = tempDir();
    await runEval(cfg({ samples: 4, resumeDir: dir }));
    const row0 = path.join(dir, PROGRESS_DIR, 'row-0.f32');
    const size = statSync(row0).size;
    appendFileSync(row0, new Uint8Array(1000).fill(7));
    const done = await runEval(cfg({ samples: 6, resumeDir: dir }));
    expect(imagesOf(done)).toEqual(imagesOf(straight));
    expect(statSync(row0).size).toBe((size / 2) * 3);
  });

  it('resumes a run stopped before its first batch (progress.json counts 0, no row files yet)', async () => {
    const dir = tempDir();
    await runEval(cfg({ samples: 2, resumeDir: dir }));
    const json = path.join(dir, PROGRESS_DIR, 'progress.json');
    writeFileSync(json, JSON.stringify({ ...JSON.parse(readFileSync(json, 'utf8')), batches: 0 }));
    for (const i of [0, 1]) rmSync(path.join(dir, PROGRESS_DIR, `row-${i}.f32`));
    const done = await runEval(cfg({ samples: 6, resumeDir: dir }));
    expect(imagesOf(done)).toEqual(imagesOf(straight));
    // Nothing was taken from the earlier run, so nothing is said about resuming.
    expect(done.notes.join('\n')).not.toMatch(/resumed/);
  });

  it('refuses saved batches made with other settings, naming each difference', async () => {
    const dir = tempDir();
    await runEval(cfg({ samples: 2, resumeDir: dir }));
    const e = await evalError(cfg({ samples: 4, seed: 6, sampler: 'ddim', resumeDir: dir }));
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toMatch(/sampled with other settings/);
    expect(e.message).toMatch(/sampler: saved "ddpm", now "ddim"/);
    expect(e.message).toMatch(/seed: saved 5, now 6/);
    expect(e.message).toMatch(/delete that folder/);
    const s = await evalError(cfg({ samples: 4, schedules: ['fora(N=3)'], resumeDir: dir }));
    expect(s.message).toMatch(/schedules: saved "no cache, fora\(N=2\)", now "no cache, fora\(N=3\)"/);
  });

  it('refuses saved batches sampled with other weights', async () => {
    const dir = tempDir();
    await runEval(cfg({ samples: 2, resumeDir: dir }));
    const changed = new Map(cfg().weights);
    const [name, t] = [...changed.entries()].find(([, w]) => w.dtype === 'f32' && w.data.length > 1)!;
    const data = Float32Array.from(t.data);
    data[0] = data[0]! + 1;
    changed.set(name, { ...t, data });
    const e = await evalError(cfg({ samples: 4, weights: changed, resumeDir: dir }));
    expect(e.message).toMatch(/weights: saved [0-9a-f]{12}…, now [0-9a-f]{12}…/);
  });

  it('names a damaged progress folder and says how to start over', async () => {
    const dir = tempDir();
    await runEval(cfg({ samples: 4, resumeDir: dir }));
    truncateSync(path.join(dir, PROGRESS_DIR, 'row-1.f32'), 10);
    const short = await evalError(cfg({ samples: 4, resumeDir: dir }));
    expect(short.code).toBe('E_INPUT');
    expect(short.message).toMatch(/row-1\.f32 holds 10 bytes, fewer than the 2 batches/);
    writeFileSync(path.join(dir, PROGRESS_DIR, 'progress.json'), '{"version": 1, "settin');
    const bad = await evalError(cfg({ samples: 4, resumeDir: dir }));
    expect(bad.code).toBe('E_INPUT');
    expect(bad.message).toMatch(/progress in '.*eval-progress' is unreadable.*delete that folder/);
  });

  it('is reachable from the command line as --resume', async () => {
    const dir = tempDir();
    const weights = writeRandomWeightsFile(dir);
    const args = ['eval', FMNIST, '--model', MODEL, '--weights', weights, '--schedules', 'fora(N=2)', '--steps', '2', '--batch', '2', '--seed', '5', '--device', 'reference', '--out-dir', path.join(dir, 'out'), '--resume'];
    await runInProcess(registerEval, [...args, '--samples', '2']);
    const saved = JSON.parse(readFileSync(path.join(dir, 'out', PROGRESS_DIR, 'progress.json'), 'utf8')) as { batches: number };
    expect(saved.batches).toBe(1);
    const out = await runInProcess(registerEval, [...args, '--samples', '4']);
    expect(out).toMatch(/resumed from .*1 of 2 batches/);
    // Metrics-only flags are not part of the saved settings: a finished run can be rescored.
    const rescored = await runInProcess(registerEval, [...args, '--samples', '4', '--bootstrap', '3']);
    expect(rescored).toMatch(/2 of 2 batches/);
    expect(rescored).toMatch(/ΔFID 95%/);
    await expect(runInProcess(registerEval, [...args, '--samples', '4', '--bootstrap', '1'])).rejects.toThrow(/--bootstrap/);
  });
});
