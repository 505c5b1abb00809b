/**
 * `ditto search` as a user runs it (a spawned process): bad flags and an unreachable budget are
 * user errors (exit 1, an `error[…]` line, no stack trace) and leave no output file.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../runtime/weights/index.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';
import { toyModelFile, toyWeights } from './toyModel.ts';

describe('ditto search (spawned)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ditto-search-cli-'));
  const model = toyModelFile(dir);
  const weights = path.join(dir, 'toy.safetensors');
  writeSafetensors(weights, toyWeights(model));
  const out = path.join(dir, 'out');
  const base = ['search', model, '--model', 'Toy', '--weights', weights, '--steps', '4', '--cfg', '2', '--samples', '2', '--batch', '2', '--device', 'reference', '--out-dir', out];

  it.each([
    [['--budget', 'fast'], /--budget expects a speed-up such as 2\.5x/],
    [['--budget', '0.5x'], /at least 1x/],
    [[], /--budget is required/],
    [['--budget', '2x', '--population', '1'], /--population must be between 2/],
    [['--budget', '2x', '--samples', 'ten'], /--samples expects an integer/],
    [['--budget', '2x', '--name', '9lives'], /--name must be an identifier/],
    [['--budget', '2x', '--eps-scales', '1;'], /--eps-scales: each entry must be one eps_scale expression/],
    [['--budget', '2x', '--kernel-times', path.join(dir, 'nope.json')], /nope\.json/],
    [['--budget', '1000x'], /--budget 1000x cannot be met: the fastest schedule .* is predicted at [0-9.]+x/],
  ])('%j is refused clearly and writes nothing', (extra, message) => {
    const r = runDitto([...base, ...extra]);
    expect(looksLikeUserError(r), r.stderr).toBe(true);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  }, 300_000);

  it('refuses --weights missing and --out-dir over the model file', () => {
    const r = runDitto(['search', model, '--budget', '2x']);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/--weights is required/);
    const over = runDitto(['search', model, '--weights', weights, '--budget', '2x', '--name', 'toy', '--out-dir', dir]);
    expect(looksLikeUserError(over)).toBe(true);
    expect(over.stderr).toMatch(/--out-dir '.*' would overwrite the model file/);
  }, 300_000);
});
