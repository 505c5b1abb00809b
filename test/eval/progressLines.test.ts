/** `ditto eval` progress when stderr is not a terminal: sparse plain lines with an estimate. */
import { describe, expect, it } from 'vitest';
import { progressLines } from '../../cli/commands/eval.ts';

describe('progress as lines (stderr is a file or a pipe)', () => {
  it('prints phase starts and ends at once and at most one line per 30 s in between, with time left', () => {
    const lines: string[] = [];
    let t = 0;
    const r = progressLines((l) => lines.push(l), () => t);
    r.update({ phase: 'sample', done: 0, total: 40 });
    t = 10_000;
    r.update({ phase: 'sample', done: 1, total: 40, row: 'fora(N=2)' });
    t = 29_000;
    r.update({ phase: 'sample', done: 2, total: 40 });
    expect(lines).toEqual(['sample 0/40 (0%)  0m00s']);
    t = 40_000;
    r.update({ phase: 'sample', done: 4, total: 40, row: 'fora(N=2)' });
    // 4 of 40 in 40 s: 36 more at 10 s each.
    expect(lines[1]).toBe('sample 4/40 (10%)  fora(N=2)  0m40s, about 6m00s left');
    t = 41_000;
    r.update({ phase: 'sample', done: 40, total: 40 });
    expect(lines[2]).toBe('sample 40/40 (100%)  0m41s');
    r.update({ phase: 'sample', done: 40, total: 40 });
    expect(lines).toHaveLength(3);
    t = 42_000;
    r.update({ phase: 'bootstrap', done: 0, total: 200 });
    expect(lines[3]).toBe('bootstrap 0/200 (0%)  0m00s');
  });

  it('writes hours for long phases', () => {
    const lines: string[] = [];
    let t = 0;
    const r = progressLines((l) => lines.push(l), () => t);
    r.update({ phase: 'sample', done: 0, total: 10 });
    t = 3_600_000;
    r.update({ phase: 'sample', done: 5, total: 10 });
    expect(lines[1]).toBe('sample 5/10 (50%)  1h00m, about 1h00m left');
  });
});
