/**
 * chevrotain, as the grammar uses it. The package's entry point (lib/src/api.js) imports lodash-es
 * one function per module — about 700 ES modules, which Node takes 0.3–0.5 s to load on a 2-core
 * machine, half of `ditto check`'s start-up. The package also ships the same code as one bundled
 * file, lib/chevrotain.mjs, which its exports map does not name: it is loaded here by its path,
 * found from the entry point's. If a later chevrotain stops shipping it, the entry point is used.
 * The playground's browser build maps this module to chevrotain's entry point (esbuild bundles it).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

type Chevrotain = typeof import('chevrotain');

async function load(): Promise<Chevrotain> {
  const entry = createRequire(import.meta.url).resolve('chevrotain'); // …/chevrotain/lib/src/api.js
  const bundle = path.join(path.dirname(entry), '..', 'chevrotain.mjs');
  return existsSync(bundle) ? ((await import(pathToFileURL(bundle).href)) as Chevrotain) : import('chevrotain');
}

const chevrotain = await load();

export const { createToken, CstParser, EOF, Lexer } = chevrotain;
export type { CstNode, IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
