/**
 * Imports point one way: core ← grammar ← compiler ← runtime, with the CLI, the Node API,
 * benchmarks and tools above them all. The compiler imports nothing from the runtime; the runtime
 * takes only the compiler's data (the IRs, plans, kernel configs) and never parses source. Every
 * relative import of every TypeScript file outside test/ is checked.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../cli/helpers.ts';

type Layer = 'core' | 'grammar' | 'compiler' | 'runtime' | 'above';

/** What each layer may import (by path prefix, relative to the repository root). */
const ALLOWED: Record<Exclude<Layer, 'above'>, readonly string[]> = {
  core: ['core/'],
  grammar: ['core/', 'grammar/'],
  compiler: ['core/', 'grammar/', 'compiler/'],
  runtime: ['core/', 'compiler/ir/', 'compiler/plan/', 'compiler/kernels/', 'runtime/'],
};

function layerOf(file: string): Layer {
  const top = file.split('/')[0]!;
  return top === 'core' || top === 'grammar' || top === 'compiler' || top === 'runtime' ? top : 'above';
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = dir ? `${dir}/${name}` : name;
    if (name === 'node_modules' || name.startsWith('.') || rel === 'test') continue;
    if (statSync(path.join(ROOT, rel)).isDirectory()) sources(rel, out);
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Relative import targets of a file (static imports, re-exports, `import()` and `import('…').T`). */
export function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
}

export function wrongImports(files: readonly string[], read: (f: string) => string): string[] {
  const wrong: string[] = [];
  for (const file of files) {
    const layer = layerOf(file);
    if (layer === 'above') continue;
    for (const target of importsOf(file, read(file))) {
      if (!ALLOWED[layer].some((p) => target.startsWith(p))) wrong.push(`${file} → ${target}`);
    }
  }
  return wrong;
}

describe('import direction', () => {
  const files = sources('');
  const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

  it('no import points the wrong way', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(wrongImports(files, read)).toEqual([]);
  });

  it('the compiler imports nothing from the runtime, and the runtime never parses source', () => {
    const bad = wrongImports(files, read).filter((w) => /^compiler\/.*→ runtime\//.test(w) || /^runtime\/.*→ (grammar\/|compiler\/(frontend|pipeline|forward|schedule|check)\b)/.test(w));
    expect(bad).toEqual([]);
  });

  it('catches a wrong import (the check itself can fail)', () => {
    const fake: Record<string, string> = {
      'compiler/plan/x.ts': "import type { AdapterReport } from '../../runtime/device.ts';",
      'runtime/run/y.ts': "import { loadProgram } from '../../compiler/frontend.ts';\nconst m = await import('../../grammar/parse.ts');",
      'core/z.ts': "export type { T } from '../compiler/ir/graph.ts';",
      'cli/w.ts': "import { x } from '../runtime/run/runner.ts';",
    };
    expect(wrongImports(Object.keys(fake), (f) => fake[f]!)).toEqual([
      'compiler/plan/x.ts → runtime/device.ts',
      'runtime/run/y.ts → compiler/frontend.ts',
      'runtime/run/y.ts → grammar/parse.ts',
      'core/z.ts → compiler/ir/graph.ts',
    ]);
  });
});
