/**
 * `ditto compile` + `ditto run` as a user runs them (spawned processes): the JSON summary, the
 * outputs, the golden DDPM run against PyTorch with supplied noise, and bad input of every kind.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tensor } from '../../core/tensor.ts';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { readGoldenIo, goldenPath } from '../golden/goldenIo.ts';
import { DIT_FILE } from './harness.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const gpu = await gpuOrSkip();
const dir = mkdtempSync(path.join(tmpdir(), 'ditto-run-'));
const TINY = ['--model', 'DiT-Tiny'];

function compilePlan(name: string, extra: string[]): string {
  const out = path.join(dir, `${name}.json`);
  const r = runDitto(['compile', DIT_FILE, ...TINY, ...extra, '-o', out]);
  // Dawn itself may print adapter warnings on stderr; ditto's own errors start with "error".
  expect(r.stderr).not.toMatch(/^error/m);
  expect(r.code).toBe(0);
  return out;
}

describe.skipIf(!gpu)('ditto run (spawned)', () => {
  const weights = path.join(dir, 'w.safetensors');

  it('compiles and runs FORA against the no-cache baseline, with a JSON summary and latents', () => {
    expect(runDitto(['weights', 'random', DIT_FILE, ...TINY, '--out', weights, '--seed', '5']).code).toBe(0);
    const fora = compilePlan('fora', ['--schedule', 'fora(N=2)', '--steps', '6', '--cfg', '4', '--batch', '2']);
    const none = compilePlan('none', ['--steps', '6', '--cfg', '4', '--batch', '2']);
    const latents = path.join(dir, 'latents.safetensors');
    const r = runDitto(['run', fora, '--weights', weights, '--class', '1,7', '--seed', '3', '--baseline', none, '--save-latents', latents, '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, any>;
    expect(s.plan.schedule).toBe('fora');
    expect(s.images).toBe(2);
    expect(s.classes).toEqual([1, 7]);
    expect(s.work.reused).toBeGreaterThan(0);
    expect(s.work.computed).toBeGreaterThan(0);
    expect(s.baseline.schedule).toBe('none');
    expect(s.baseline.measuredSpeedup).toBeGreaterThan(0);
    expect(s.baseline.predictedSpeedup).toBeGreaterThan(1);
    expect(s.baseline.fidelity.relativeL2).toBeGreaterThan(0);
    expect(s.baseline.fidelity.relativeL2).toBeLessThan(1);
    const t = loadWeights(latents).tensors.get('latents')!;
    expect(t.shape).toEqual([2, 4, 8, 8]);
    expect(t.data.every(Number.isFinite)).toBe(true);
  });

  it('reproduces a PyTorch DDPM run (CFG, eps scale) exactly from supplied noise (rel 1e-4)', () => {
    const io = readGoldenIo();
    const steps = Number(io.meta['run.steps']);
    const schedule = path.join(dir, 'eps.ditto');
    writeFileSync(schedule, `use "${DIT_FILE}"\nschedule eps_only for DiT {\n  steps ${steps}\n  eps_scale ${io.meta['run.eps_scale']}\n}\n`);
    const plan = compilePlan('golden', ['--schedule', schedule, '--steps', String(steps), '--cfg', io.meta['run.cfg_scale']!, '--batch', '2']);
    const noise = path.join(dir, 'noise.safetensors');
    const all = io.f32('run.noise');
    writeSafetensors(noise, new Map([['x_T', io.f32('run.x0')], ['noise', tensor(all.shape, all.data as Float32Array)]]));
    const out = path.join(dir, 'golden-latents.safetensors');
    const classes = Array.from(io.f32('run.classes').data).join(',');
    const r = runDitto(['run', plan, '--weights', goldenPath('dit_tiny.safetensors'), '--noise', noise, '--class', classes, '--save-latents', out]);
    expect(r.code).toBe(0);
    const got = loadWeights(out).tensors.get('latents')!.data;
    const want = io.f32('run.out').data;
    const scale = Math.max(...Array.from(want, Math.abs));
    expect(got).toAllClose(want, { rtol: 1e-4, atol: 1e-5 * scale });
  });

  it('prints a progress-free text summary and writes a PNG for a pixel-space model', () => {
    const w1 = path.join(dir, 'w1.safetensors');
    expect(runDitto(['weights', 'random', DIT_FILE, '--model', 'DiT-Tiny', '--set', 'channels=1', '--out', w1]).code).toBe(0);
    const plan = compilePlan('pixel', ['--set', 'channels=1', '--steps', '3', '--batch', '4']);
    const png = path.join(dir, 'grid.png');
    const r = runDitto(['run', plan, '--weights', w1, '--out', png]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/time\s+\d+\.\d+ s for 4 images/);
    expect(r.stdout).toContain(`wrote      ${png}`);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  });

  it('refuses bad input with a clear message, exit 1, and no output file', () => {
    const plan = compilePlan('bad-input', ['--steps', '3']);
    const out = path.join(dir, 'never.safetensors');
    const cases: [string[], RegExp][] = [
      [['run', path.join(dir, 'missing.json'), '--weights', weights], /cannot read plan .*no such file/],
      [['run', weights, '--weights', weights], /plan/],
      [['run', plan, '--weights', goldenPath('dit_tiny.safetensors'), '--class', '1,2', '--save-latents', out], /compiled for 1 image per run, but 2 classes were given/],
      [['run', plan, '--weights', weights, '--class', 'seven', '--save-latents', out], /--class expects an integer/],
      [['run', plan, '--weights', weights, '--out', path.join(dir, 'x.png')], /4-channel latents, not pictures/],
      [['run', plan, '--weights', weights, '--noise', weights, '--save-latents', out], /noise file .* unexpected tensors?/],
    ];
    for (const [args, message] of cases) {
      const r = runDitto(args);
      expect(looksLikeUserError(r), `${args.join(' ')}\n${r.stderr}`).toBe(true);
      expect(r.stderr).toMatch(message);
    }
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, JSON.stringify({ ...JSON.parse(readFileSync(plan, 'utf8')), version: 99 }));
    const r = runDitto(['run', broken, '--weights', weights]);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/version/);
    expect(existsSync(out)).toBe(false);
    // A buffer beyond what the device can allocate is the GPU's refusal, reported as such.
    const huge = path.join(dir, 'huge.json');
    const p = JSON.parse(readFileSync(plan, 'utf8'));
    p.buffers.find((b: { kind: string }) => b.kind === 'activation').bytes = 2 ** 34;
    writeFileSync(huge, JSON.stringify(p));
    // An edited plan is refused by its hash unless the user opts out on purpose.
    const edited = runDitto(['run', huge, '--weights', weights, '--save-latents', out]);
    expect(looksLikeUserError(edited), edited.stderr).toBe(true);
    expect(edited.stderr).toMatch(/do not match its hash/);
    const big = runDitto(['run', huge, '--weights', weights, '--save-latents', out, '--allow-edited-plan']);
    expect(looksLikeUserError(big), big.stderr).toBe(true);
    expect(big.stderr).toMatch(/error\[E_GPU\]: the GPU rejected allocating the plan's \d+ buffers/);
    expect(existsSync(out)).toBe(false);
  });
});
