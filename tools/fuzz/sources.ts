/**
 * Fuzzed ditto sources: random bytes, token soups, mutations of the shipped files, deep nesting
 * and long lines. Each is parsed; one in CHECK_EVERY also goes through the whole front end
 * (parse + check, with `use` imports of the shipped files resolved from disk, which re-checks the
 * model each time and costs a hundred times more). Either must end in diagnostics, never an
 * exception.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { checkSources } from '../../compiler/frontend.ts';
import { parseSource } from '../../grammar/parse.ts';
import { libraryCase, type Outcome, type Rng } from './harness.ts';
import { KEYWORDS } from '../../grammar/tokens.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SHIPPED = [
  path.join(ROOT, 'models/dit.ditto'),
  path.join(ROOT, 'models/fmnist.ditto'),
  path.join(ROOT, 'models/vae.ditto'),
  ...readdirSync(path.join(ROOT, 'models/schedules')).filter((f) => f.endsWith('.ditto')).map((f) => path.join(ROOT, 'models/schedules', f)),
];
const shippedText = new Map(SHIPPED.map((f) => [f, readFileSync(f, 'utf8')]));

const PUNCT = ['(', ')', '{', '}', '[', ']', ',', ':', '.', '..', '@', '==', '!=', '<=', '>=', '<', '>', '=', '+', '-', '*', '/', '%', '!', '"', '/*', '*/', '//', '\n', ' '];
const WORDS = [...KEYWORDS, 'x', 'blocks', 'attn', 'mlp', 'DiT', 'S', 'N', 'linear', 'hidden', 'depth'];

function token(r: Rng): string {
  switch (r.int(5)) {
    case 0:
      return r.pick(WORDS);
    case 1:
      return String(r.bool() ? r.int(100) : r.float() * 10 ** r.int(12));
    case 2:
      return `"${r.pick(WORDS)}${r.bool(0.1) ? '\\' : ''}"`;
    default:
      return r.pick(PUNCT);
  }
}

function randomBytes(r: Rng): string {
  const n = r.int(2000);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return r.bool() ? b.toString('latin1') : b.toString('utf8');
}

function tokenSoup(r: Rng): string {
  const n = 1 + r.int(400);
  return Array.from({ length: n }, () => token(r)).join(r.bool(0.8) ? ' ' : '');
}

function mutate(r: Rng, text: string): string {
  let t = text;
  for (let m = 1 + r.int(4); m > 0; m--) {
    const at = r.int(t.length + 1);
    const len = r.int(Math.min(40, t.length - at + 1));
    switch (r.int(5)) {
      case 0: // delete a span
        t = t.slice(0, at) + t.slice(at + len);
        break;
      case 1: // insert a token
        t = t.slice(0, at) + token(r) + t.slice(at);
        break;
      case 2: {
        // duplicate a span somewhere else
        const to = r.int(t.length + 1);
        t = t.slice(0, to) + t.slice(at, at + len) + t.slice(to);
        break;
      }
      case 3: // replace a character
        t = t.slice(0, at) + String.fromCharCode(r.int(128)) + t.slice(at + 1);
        break;
      default: {
        // change a number
        t = t.replace(/\d+/, () => r.pick(['0', '-1', '1e308', '99999999999', '0.5', 'NaN']));
      }
    }
  }
  return t;
}

function deepNesting(r: Rng): string {
  const depth = 1 + r.int(r.bool(0.5) ? 200 : 20_000);
  const open = r.pick(['(', '[', '{', '-', 'not ', '- (', '((']);
  const close = open.startsWith('(') ? ')'.repeat(open.length) : open === '[' ? ']' : open === '{' ? '}' : '';
  const inner = `${open.repeat(depth)}1${r.bool() ? close.repeat(depth) : ''}`;
  return `use "../dit.ditto"\nschedule s for DiT {\n  steps 4\n  blocks[*].attn reuse at i == ${inner}\n}\n`;
}

function longLine(r: Rng): string {
  const unit = r.pick(['1+', '#', '/*', '"\\"', 'a ', '(', 'x.', '-', 'a#', 'not ', '+1', '1.0e5 ']);
  const n = Math.floor((2 ** (14 + r.int(7))) / unit.length);
  return `use "../dit.ditto"\nschedule s for DiT {\n  steps 4\n  blocks[*].attn reuse at i == ${unit.repeat(n)}\n}\n`;
}

export const SOURCE_KINDS = ['bytes', 'soup', 'mutation', 'nesting', 'long-line'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** Generates case `r` of a kind: the text and the file it pretends to be (so `use` resolves). */
export function generateSource(r: Rng, kind: SourceKind): { file: string; text: string } {
  const scheduleFile = path.join(ROOT, 'models/schedules/fuzz.ditto');
  switch (kind) {
    case 'bytes':
      return { file: scheduleFile, text: randomBytes(r) };
    case 'soup':
      return { file: scheduleFile, text: tokenSoup(r) };
    case 'mutation': {
      const file = r.pick(SHIPPED);
      return { file, text: mutate(r, shippedText.get(file)!) };
    }
    case 'nesting':
      return { file: scheduleFile, text: deepNesting(r) };
    case 'long-line':
      return { file: scheduleFile, text: longLine(r) };
  }
}

/**
 * One case in this many is checked as well as parsed. Coprime with the five kinds, which take
 * turns by index: with 20 every checked case was random bytes.
 */
export const CHECK_EVERY = 21;

export function sourceCase(r: Rng, kind: SourceKind, check: boolean): Outcome {
  const { file, text } = generateSource(r, kind);
  return libraryCase(() => {
    if (check) checkSources([file], { inline: new Map([[file, text]]) });
    else parseSource(file, text);
  });
}
