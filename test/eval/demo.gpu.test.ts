import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { tensor } from '../../core/tensor.ts';
import { composeDemoPng, DEMO_COLUMNS, missingWeightsMessage, runDemo } from '../../evaluation/eval/demo.ts';
import { glyph, GLYPH_HEIGHT, GLYPH_WIDTH, hasGlyph } from '../../evaluation/eval/font5x7.ts';
import type { EvalReport, EvalRow } from '../../evaluation/eval/types.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { ROOT, tempDir, writeRandomWeightsFile } from './helpers.ts';

const ENTRY = path.join(ROOT, 'test/eval/cliEntry.ts');

/** The ditto process (cli/main.ts's program plus eval and demo), as a user runs it. */
function ditto(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ENTRY, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Tiny demo: 3 steps, FORA instead of the 50-step EB-Cache table, one image per class. */
const TINY = ['--steps', '3', '--schedule', 'fora(N=2)', '--per-class', '1'];

describe('ditto demo (spawned)', () => {
  const dir = tempDir();
  const weights = writeRandomWeightsFile(dir);

  it('falls back to the reference executor with a warning when there is no adapter', () => {
    const out = path.join(dir, 'cpu.png');
    const r = ditto(['demo', ...TINY, '--weights', weights, '--out', out], { VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(r.stderr).toMatch(/warning: no WebGPU adapter, so the demo runs on the CPU reference executor/);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/on reference executor \(CPU\)/);
    expect(r.stdout).toMatch(/fora\(N=2\)\s+\d+\.\d\d s\s+speed-up \d+\.\d\dx\s+PSNR \d+\.\d\d dB/);
    expect(r.stdout).toContain(`wrote ${out}`);
    const png = PNG.sync.read(readFileSync(out));
    expect(png.width).toBeGreaterThan(2 * 10 * 28 * 2);
  }, 600_000);

  it('says how to get the weights when the file is missing', () => {
    const missing = path.join(dir, 'nope.safetensors');
    const r = ditto(['demo', ...TINY, '--weights', missing, '--out', path.join(dir, 'x.png')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error[E_IO]: the demo model's weights '${missing}' do not exist.`);
    expect(r.stderr).toContain('tools/train/train_fmnist.py --export-only');
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(existsSync(path.join(dir, 'x.png'))).toBe(false);
  }, 600_000);

  it('rejects a table schedule at the wrong step count as a user error', () => {
    const r = ditto(['demo', '--steps', '3', '--per-class', '1', '--device', 'reference', '--weights', weights, '--out', path.join(dir, 'y.png')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[E_TABLE\]: --schedules 'ebcache_table' at 3 steps/);
  }, 600_000);

  it('eval runs from the command line and writes its files', () => {
    const outDir = path.join(dir, 'eval');
    const r = ditto(['eval', path.join(ROOT, 'models/fmnist.ditto'), '--model', 'DiT-FMNIST', '--weights', weights, '--schedules', 'fora(N=2)', '--samples', '2', '--steps', '2', '--device', 'reference', '--out-dir', outDir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.rows.map((x: { name: string }) => x.name)).toEqual(['no cache', 'fora(N=2)']);
    expect(existsSync(path.join(outDir, 'fora_N_2.png'))).toBe(true);
    expect(existsSync(path.join(outDir, 'table.md'))).toBe(true);
  }, 600_000);
});

describe('ditto demo on the GPU', async () => {
  const gpu = await gpuOrSkip();
  it.skipIf(!gpu)('samples both grids on the adapter and writes demo.png', async () => {
    const dir = tempDir();
    const r = await runDemo({ weightsFile: writeRandomWeightsFile(dir), out: path.join(dir, 'demo.png'), steps: 3, schedules: ['fora(N=2)'], perClass: 1, device: 'gpu', warn: (m) => expect.fail(m) });
    expect(r.report.device).toMatch(/^gpu: /);
    expect(r.fellBack).toBe(false);
    expect(r.baseline.images.shape).toEqual([10, 1, 28, 28]);
    expect(r.cached).toHaveLength(1);
    expect(r.cached[0]!.predictedSpeedup).toBeGreaterThan(1);
    expect(Number.isFinite(r.cached[0]!.psnr)).toBe(true);
    expect(existsSync(r.out)).toBe(true);
  }, 600_000);
});

describe('demo.png layout and font', () => {
  it('puts the baseline grid on the left and the cached grids to its right, zoomed 2×', () => {
    const img = (v: number) => tensor([10, 1, 28, 28], new Float32Array(10 * 784).fill(v));
    const row = (name: string, v: number): EvalRow => ({ name, schedule: name, images: img(v), classes: [...Array(10).keys()], seconds: 1, speedup: 1.5, predictedSpeedup: 1.4, flopsRatio: 0.7, fid: null, fidSd: null, fidDelta: null, accuracy: 1, psnr: 30, ssim: 0.9, relativeL2: 0.01 });
    const rep = { model: 'M', modelFile: 'm', steps: 50, sampler: 'ddpm', cfgScale: 3, samples: 10, batch: 10, seed: 0, classCount: 10, device: 'x', warmup: true, bootstrap: null, rows: [], notes: [] } as EvalReport;
    const cached = DEMO_COLUMNS.map((column, i) => ({ row: row(column.schedule, i === 0 ? 1 : 0), column }));
    const png = PNG.sync.read(composeDemoPng(rep, row('no cache', -1), cached));
    const gridW = 10 * 56 + 9 * 2;
    expect(png.width).toBe(2 * 12 + 3 * gridW + 2 * 24);
    // The last row of the picture above the bottom margin crosses every grid: black, white, grey.
    const y = png.height - 12 - 1;
    const at = (x: number) => png.data[(y * png.width + x) * 4]!;
    expect(at(12 + 5)).toBe(0);
    expect(at(12 + gridW + 24 + 5)).toBe(255);
    expect(at(12 + 2 * (gridW + 24) + 5)).toBe(128);
  });

  it('has a 5×7 glyph for everything the labels print', () => {
    for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:-=()%/+ ') {
      expect(hasGlyph(ch), ch).toBe(true);
      const g = glyph(ch);
      expect(g).toHaveLength(GLYPH_HEIGHT);
      for (const r of g) expect(r).toHaveLength(GLYPH_WIDTH);
    }
    expect(missingWeightsMessage('w.safetensors')).toContain('--weights FILE');
  });
});
