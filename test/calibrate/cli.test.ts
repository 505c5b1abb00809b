/** `ditto calibrate` as a user runs it: a spawned process (needs registerCalibrate in cli/main.ts). */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { readNpyInts } from '../../compiler/schedule/npy.ts';
import { randomWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';

describe('ditto calibrate (spawned)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ditto-calibrate-cli-'));
  const weights = path.join(dir, 'tiny.safetensors');
  const graph = lowerModel(loadProgram('models/dit.ditto'), { model: 'DiT-Tiny', batch: 1 });
  writeSafetensors(weights, randomWeights(graphWeights(graph), 11));
  const base = ['calibrate', 'models/dit.ditto', '--model', 'DiT-Tiny', '--weights', weights, '--steps', '8', '--samples', '2'];

  it('writes a checked schedule and its table, and prints the states, the FLOPs ratio and δ', () => {
    const out = path.join(dir, 'happy.ditto');
    const r = runDitto([...base, '--budget', '0.7', '--cfg', '1.5', '--eps-scale', '1 / 0.965', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const states = /states \(sampling order, k = 0\.\.7\): ([0-3]{8})/.exec(r.stdout)?.[1];
    expect(states).toBeDefined();
    expect(states![0]).toBe('0');
    const ratio = Number(/FLOPs ratio ([0-9.]+)/.exec(r.stdout)?.[1]);
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThanOrEqual(0.7);
    expect(r.stdout).toMatch(/δ\(t\) = [0-9.e-]+ \+ [0-9.e-]+·t/);
    expect(readNpyInts(path.join(dir, 'happy.npy')).reverse().join('')).toBe(states);
    expect(readFileSync(out, 'utf8')).toContain('eps_scale 1 / 0.965');
    // The written file is a schedule like any other: `ditto check` accepts it.
    const check = runDitto(['check', out]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('ok');
  });

  it('rejects a budget outside (0, 1] and writes nothing', () => {
    const out = path.join(dir, 'over.ditto');
    const r = runDitto([...base, '--budget', '1.2', '-o', out]);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain('--budget');
    expect(r.stderr).toContain('(0, 1]');
    expect(existsSync(out)).toBe(false);
  });

  it('rejects an unknown model with the valid names and writes nothing', () => {
    const out = path.join(dir, 'unknown.ditto');
    const r = runDitto(['calibrate', 'models/dit.ditto', '--model', 'DiT-Tinny', '--weights', weights, '--steps', '8', '--budget', '0.7', '-o', out]);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain('unknown model `DiT-Tinny`');
    expect(r.stderr).toContain('DiT-Tiny');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('unknown'))).toEqual([]);
  });
});
