/**
 * `sampler ddpm|ddim` in a schedule: parsed and printed back, checked (one per schedule, a known
 * name, at the top), and a schedule resolved for another sampler is refused at the statement. The
 * statement changes nothing in the resolved schedule, and `retime` keeps it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProgram, lowerModel, resolveSchedule } from '../../compiler/frontend.ts';
import { retimeSource } from '../../compiler/retimeSource.ts';
import { DittoError } from '../../core/errors.ts';
import { parseSource } from '../../grammar/parse.ts';
import { printProgram } from '../../grammar/printer.ts';
import { errors, spanText } from './helpers.ts';

const FILE = 'models/sampler_inline.ditto';
const tiny = lowerModel(loadProgram('models/dit.ditto'), { model: 'DiT-Tiny', batch: 1 });
const src = (stmts: string) => `use "dit.ditto"\n\nschedule s for DiT {\n  steps 8\n${stmts}  blocks[*].attn reuse at every 2 offset 1\n}\n`;
const inline = (text: string) => loadProgram(FILE, { inline: new Map([[FILE, text]]) });

function refusal(text: string, sampler: 'ddpm' | 'ddim'): DittoError {
  try {
    resolveSchedule(inline(text), 's', tiny, { sampler });
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    return e as DittoError;
  }
  throw new Error('resolved');
}

describe('the sampler statement', () => {
  it('parses to its own statement and prints back as written', () => {
    const text = src('  sampler ddim\n');
    const r = parseSource(FILE, text);
    expect(r.diagnostics).toEqual([]);
    const d = r.ast!.decls[1]!;
    if (d.kind !== 'schedule') throw new Error('not a schedule');
    expect(d.body[1]).toMatchObject({ kind: 'sampler', name: { name: 'ddim' } });
    expect(spanText(text, { severity: 'error', code: 'E_CHECK', message: '', span: d.body[1]!.span })).toBe('sampler ddim');
    expect(printProgram(r.ast!)).toBe(text);
  });

  it('is a reserved word: a schedule cannot be named `sampler`', () => {
    const r = parseSource(FILE, 'schedule sampler for DiT {\n}\n');
    expect(r.diagnostics[0]!.suggestion).toMatch(/`sampler` is a keyword/);
  });

  it('`ditto check` accepts it (no sampler is known there) and refuses a second one, an unknown name and one inside a branch, at the statement', () => {
    expect(errors(src('  sampler ddpm\n'), FILE)).toEqual([]);
    const twice = src('  sampler ddim\n  sampler ddim\n');
    const [d] = errors(twice, FILE);
    expect(d!.message).toBe('the sampler is given twice; a schedule is made for one sampler');
    expect(d!.span).toMatchObject({ file: FILE, line: 6, column: 3 });
    const unknown = src('  sampler ddmi\n');
    const [u] = errors(unknown, FILE);
    expect(u!.message).toBe('unknown sampler `ddmi`; samplers: ddpm, ddim');
    expect(u!.suggestion).toBe('did you mean `ddim`?');
    expect(spanText(unknown, u!)).toBe('ddmi');
    const [n] = errors(src('  cond {\n    sampler ddim\n  }\n'), FILE);
    expect(n!.message).toBe('`sampler` belongs at the top of the schedule, not inside a branch');
  });

  it('refuses the schedule for another sampler, naming it, the statement and both samplers', () => {
    const text = src('  sampler ddim\n');
    const e = refusal(text, 'ddpm');
    expect(e.code).toBe('E_CHECK');
    expect(e.message).toBe('schedule `s` was made for the ddim sampler (`sampler ddim`), but it is used with ddpm: use a schedule made for ddpm, or sample with --sampler ddim');
    expect(e.span).toMatchObject({ file: FILE, line: 5, column: 3 });
    expect(e.detail).toContain(`${FILE}:5:3: error:`);
    expect(e.detail).toContain('`ditto fit teacache … --sampler ddpm`');
    expect(refusal(src('  sampler ddpm\n'), 'ddim').message).toMatch(/made for the ddpm sampler .* used with ddim/);
  });

  it('changes nothing in the resolved schedule: with the sampler it declares, or none, it is the schedule without the statement', () => {
    const without = resolveSchedule(inline(src('')), 's', tiny, { sampler: 'ddim' });
    expect(resolveSchedule(inline(src('  sampler ddim\n')), 's', tiny, { sampler: 'ddim' })).toEqual(without);
    expect(resolveSchedule(inline(src('  sampler ddim\n')), 's', tiny)).toEqual(without);
    expect(resolveSchedule(inline(src('')), 's', tiny, { sampler: 'ddpm' })).toEqual(without);
  });

  it('retime keeps it, predicts with it by default, and refuses another --sampler', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-sampler-'));
    const file = path.join(dir, 'made.ditto');
    writeFileSync(file, `use "${path.resolve('models/dit.ditto')}"\nschedule s for DiT {\n  steps 8\n  sampler ddim\n  blocks[*].attn reuse at every 2 offset 1\n}\n`);
    const model = { modelFile: 'models/dit.ditto', model: 'DiT-Tiny', outputFile: path.join(dir, 'out.ditto') };
    const r = retimeSource(`${file}:s`, { steps: 4, ...model });
    expect(r.text).toMatch(/ {2}steps 4\n {2}sampler ddim\n/);
    expect(() => retimeSource(`${file}:s`, { steps: 4, sampler: 'ddpm', ...model })).toThrow(/made for the ddim sampler/);
  });
});
