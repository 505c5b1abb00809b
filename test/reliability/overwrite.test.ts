/** F1: no verb writes over one of its inputs, however the output path spells it. */
import { copyFileSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DittoError } from '../../core/errors.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { ROOT } from '../cli/helpers.ts';
import { ditto, tempDir } from './helpers.ts';

function refused(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    expect((e as DittoError).code).toBe('E_USAGE');
    return (e as DittoError).message;
  }
  throw new Error('not refused');
}

describe('refuseOverwrite', () => {
  const dir = tempDir();
  const input = path.join(dir, 'model.ditto');
  writeFileSync(input, 'model M {}\n');

  it('refuses the same file through another spelling, a symbolic link or a hard link', () => {
    symlinkSync(input, path.join(dir, 'link.ditto'));
    linkSync(input, path.join(dir, 'hard.ditto'));
    for (const out of [input, path.join(dir, '.', 'x', '..', 'model.ditto'), path.join(dir, 'link.ditto'), path.join(dir, 'hard.ditto')]) {
      expect(refused(() => refuseOverwrite([{ label: '-o', file: out }], [{ label: 'the model file', file: input }]))).toMatch(/-o .* is the same file as the model file/);
    }
  });

  it('refuses an output inside a symlinked folder that is the input', () => {
    const linkedDir = path.join(dir, 'linked');
    symlinkSync(dir, linkedDir);
    refused(() => refuseOverwrite([{ label: '-o', file: path.join(linkedDir, 'model.ditto') }], [{ label: 'the model file', file: input }]));
  });

  it('refuses two outputs that are one file, and a directory output that would write over an input', () => {
    refused(() => refuseOverwrite([{ label: '--out', file: path.join(dir, 'a.png') }, { label: '--save-latents', file: path.join(dir, '.', 'a.png') }], []));
    writeFileSync(path.join(dir, 'table.md'), 'x');
    refused(() => refuseOverwrite([], [{ label: '--weights', file: path.join(dir, 'table.md') }], [{ label: '--out-dir', dir, writes: (n) => n === 'table.md' }]));
  });

  it('accepts distinct files, including one that does not exist yet, and absent flags', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]{1,8}$/), (name) => {
        fc.pre(name !== 'model');
        refuseOverwrite([{ label: '-o', file: path.join(dir, 'new', `${name}.json`) }, { label: '--svg', file: undefined }], [{ label: 'the model file', file: input }]);
      }),
    );
  });
});

describe('every verb refuses to write over its inputs (exit 1, input unchanged)', () => {
  const dir = tempDir();
  const model = path.join(dir, 'dit.ditto');
  copyFileSync(path.join(ROOT, 'models/dit.ditto'), model);
  const original = readFileSync(model, 'utf8');

  it('compile -o MODEL (the issue\'s reproducer)', async () => {
    const r = await ditto('compile', model, '--model', 'DiT-S/2', '--schedule', 'fora(N=2)', '--steps', '4', '-o', model);
    expect(r.exit).toBe(1);
    expect(r.err).toMatch(/E_USAGE.*same file as the model file/);
    expect(readFileSync(model, 'utf8')).toBe(original);
  });

  it('compile -o a link to a file the schedule uses', async () => {
    const link = path.join(dir, 'plan-link.json');
    symlinkSync(model, link);
    const schedule = path.join(dir, 'fora.ditto');
    writeFileSync(schedule, readFileSync(path.join(ROOT, 'models/schedules/fora.ditto'), 'utf8').replace('../dit.ditto', './dit.ditto'));
    const r = await ditto('compile', schedule, '--model', 'DiT-Tiny', '--schedule', 'fora', '--steps', '4', '-o', link);
    expect(r.exit).toBe(1);
    expect(readFileSync(model, 'utf8')).toBe(original);
  });

  it('weights convert, weights random, forward, run, explain and calibrate', async () => {
    const w = path.join(dir, 'w.safetensors');
    expect((await ditto('weights', 'random', model, '--model', 'DiT-Tiny', '--out', w)).exit).toBe(0);
    const before = readFileSync(w);
    const cases: string[][] = [
      ['weights', 'convert', w, path.join(dir, '.', 'w.safetensors')],
      ['weights', 'random', model, '--model', 'DiT-Tiny', '--out', model],
      ['forward', model, '--model', 'DiT-Tiny', '--weights', w, '--inputs', w, '-o', w],
      ['run', model, '--weights', w, '--save-latents', w],
      ['run', model, '--weights', w, '--save-latents', path.join(dir, 'l.safetensors'), '--out', path.join(dir, 'l.safetensors')],
      ['explain', model, '--svg', model],
      ['calibrate', model, '--model', 'DiT-Tiny', '--weights', w, '--steps', '2', '--budget', '0.9', '-o', model, '--samples', '1'],
    ];
    for (const args of cases) {
      const r = await ditto(...args);
      expect(r.exit, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toMatch(/E_USAGE/);
    }
    expect(readFileSync(w).equals(before)).toBe(true);
    expect(readFileSync(model, 'utf8')).toBe(original);
  });
});
