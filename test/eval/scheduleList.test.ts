import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { splitScheduleList } from '../../evaluation/eval/scheduleList.ts';
import { DittoError } from '../../core/errors.ts';

const ident = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);
const param = fc.tuple(fc.stringMatching(/^[A-Za-z]{1,3}$/), fc.integer({ min: 0, max: 99 })).map(([k, v]) => `${k}=${v}`);
const spec = fc.tuple(ident, fc.option(fc.array(param, { minLength: 1, maxLength: 3 }), { nil: undefined })).map(([n, ps]) => (ps ? `${n}(${ps.join(',')})` : n));

describe('splitScheduleList', () => {
  it('splits only at top-level commas: joining distinct specs and splitting gives them back', () => {
    fc.assert(
      fc.property(fc.uniqueArray(spec, { minLength: 1, maxLength: 5 }), (specs) => {
        expect(splitScheduleList(specs.join(','))).toEqual(specs);
        expect(splitScheduleList(specs.join(' , '))).toEqual(specs);
      }),
    );
  });

  it('keeps files and FILE:NAME entries whole', () => {
    expect(splitScheduleList('models/schedules/fora.ditto:fora(N=2,x=1),ebcache_table')).toEqual(['models/schedules/fora.ditto:fora(N=2,x=1)', 'ebcache_table']);
  });

  it.each([
    ['', /at least one/],
    ['fora(N=2', /unbalanced '\('/],
    ['fora)', /unbalanced '\)'/],
    ['a,,b', /entry 2 .* is empty/],
    ['fora,fora', /listed twice/],
  ])('rejects %j', (text, msg) => {
    let err: unknown;
    try {
      splitScheduleList(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DittoError);
    expect((err as DittoError).code).toBe('E_USAGE');
    expect((err as DittoError).message).toMatch(msg);
  });
});
