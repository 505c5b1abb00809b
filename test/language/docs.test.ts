/** Every ```ditto block of docs/language.md must check without errors (the docs cannot rot). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../../compiler/frontend.ts';

const doc = readFileSync('docs/language.md', 'utf8');
const blocks = [...doc.matchAll(/```ditto\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('docs/language.md', () => {
  it('has code blocks for every construct', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(12);
    const all = blocks.join('\n');
    for (const word of ['use ', 'model ', 'let ', 'input ', 'output ', 'for ', 'variant ', 'schedule ', 'steps ', 'every ', 'reuse residual', 'forecast taylor', 'table ', 'json ', 'cond {', 'uncond {', 'when rel_l1', 'when transform_rate', 'eps_scale ', 'piecewise(', '@ "', 'order sampling', 'order countdown', 'map(']) {
      expect(all, word).toContain(word);
    }
  });

  blocks.forEach((text, n) => {
    it(`block ${n + 1} checks`, () => {
      const file = `docs/block-${n + 1}.ditto`;
      const r = checkFiles([file], { inline: new Map([[file, text]]) });
      expect(r.diagnostics.filter((d) => d.severity === 'error'), r.rendered).toEqual([]);
    });
  });
});
