/**
 * `ditto compile FILE` without --schedule compiles a plan in which every step computes. When FILE
 * declares schedules of its own, the user most likely meant one of them: the command still
 * succeeds (no cache is a valid plan) but says so on stderr and names them.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runDitto, TINY_DIT } from './helpers.ts';

const TINY = [...TINY_DIT, '--steps', '4', '--caps', 'lavapipe'];
const FAST_MS = 60_000;
let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ditto-compile-note-'));
  file = path.join(dir, 'mine.ditto');
  writeFileSync(file, [
    `use "${path.join(ROOT, 'models/dit.ditto')}"`,
    'schedule every_other for DiT {',
    '  blocks[*].attn reuse at every 2 offset 1',
    '}',
    'schedule mlp_too for DiT {',
    '  blocks[*].mlp reuse at every 2 offset 1',
    '}',
    '',
  ].join('\n'));
});

describe('compile without --schedule', () => {
  it('names the schedules the file declares, and still writes the no-cache plan', () => {
    const out = path.join(dir, 'none.json');
    const r = runDitto(['compile', file, ...TINY, '-o', out], {}, FAST_MS);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no --schedule given, so every step computes');
    expect(r.stderr).toContain('declares schedules every_other, mlp_too (compile one with --schedule every_other)');
    expect(r.stdout).toContain('FLOPs ratio 1.000');
    expect(existsSync(out)).toBe(true);
  });

  it('says nothing when a schedule is named, or when the model file declares none', () => {
    const named = runDitto(['compile', file, ...TINY, '--schedule', 'every_other', '-o', path.join(dir, 'named.json')], {}, FAST_MS);
    expect(named.code).toBe(0);
    expect(named.stderr).not.toContain('note:');
    expect(named.stdout).not.toContain('FLOPs ratio 1.000');
    const model = runDitto(['compile', path.join(ROOT, 'models/dit.ditto'), ...TINY, '-o', path.join(dir, 'model.json')], {}, FAST_MS);
    expect(model.code).toBe(0);
    expect(model.stderr).not.toContain('note:');
  });
});
