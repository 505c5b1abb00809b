/**
 * Test hygiene the CI relies on: every suite that needs a GPU adapter is named `*.gpu.test.ts`, so
 * a machine without one can leave them out by name; `npm run size` counts code lines correctly.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../cli/helpers.ts';
import { countLines } from '../../tools/size.ts';

function suites(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((n) => {
    const rel = `${dir}/${n}`;
    if (statSync(path.join(ROOT, rel)).isDirectory()) return suites(rel);
    return n.endsWith('.test.ts') ? [rel] : [];
  });
}

describe('test hygiene', () => {
  it('every suite that opens a GPU adapter is named *.gpu.test.ts', () => {
    const all = suites('test');
    const needGpu = all.filter((f) => /\bgpuOrSkip\(|\bcreateGpu\(/.test(readFileSync(path.join(ROOT, f), 'utf8')));
    expect(needGpu.length).toBeGreaterThan(15);
    expect(needGpu.filter((f) => !f.endsWith('.gpu.test.ts'))).toEqual([]);
  });

  it('size counts code lines: no blanks, no comment-only lines', () => {
    expect(countLines('/**\n * doc\n */\nconst a = 1; // why\n\n// note\n/* one */\nexport { a };\n')).toEqual({ lines: 8, code: 2 });
  });
});
