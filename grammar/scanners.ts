/**
 * Hand-written matchers for the tokens whose regular expressions were not linear: an unclosed
 * block comment or string rescanned the rest of the text (or line) at every `/*` or `"` that
 * followed, so a line of a megabyte of `/*` took minutes. Each matcher remembers, per text, where
 * its last failed scan started and ended: every later start inside that stretch fails the same way
 * and is answered without scanning again. All three take (text, offset) as chevrotain's custom
 * patterns do and return [the matched text] or null.
 */

type Match = [string] | null;

/** A failed scan: any start in (from, to) of the same text fails too. */
interface Miss {
  text: string | undefined;
  from: number;
  to: number;
}

function missed(m: Miss, text: string, offset: number): boolean {
  return m.text === text && offset > m.from && offset < m.to;
}

const commentMiss: Miss = { text: undefined, from: 0, to: 0 };

/** `/* … *\/`, not nested. Without a closing `*\/` anywhere after the start, no later `/*` closes either. */
export function blockCommentAt(text: string, offset: number): Match {
  if (text.charCodeAt(offset) !== 47 || text.charCodeAt(offset + 1) !== 42) return null;
  if (missed(commentMiss, text, offset)) return null;
  const close = text.indexOf('*/', offset + 2);
  if (close < 0) {
    Object.assign(commentMiss, { text, from: offset, to: text.length });
    return null;
  }
  return [text.slice(offset, close + 2)];
}

const stringMiss: Miss = { text: undefined, from: 0, to: 0 };

/** Characters `.` does not match in a JavaScript regular expression (an escape cannot span a line). */
function isLineTerminator(c: number): boolean {
  return c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
}

/**
 * `"…"` on one line, with backslash escapes (the language of /"(?:[^"\\\n]|\\.)*"/). When a scan
 * from `offset` fails at `i`, every `"` between them was the second half of an escape, so a scan
 * starting at any of them walks the same units and fails at `i` too.
 */
export function stringAt(text: string, offset: number): Match {
  if (text.charCodeAt(offset) !== 34) return null;
  if (missed(stringMiss, text, offset)) return null;
  let i = offset + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 34) return [text.slice(offset, i + 1)];
    if (c === 10) break;
    if (c === 92) {
      if (i + 1 < text.length && !isLineTerminator(text.charCodeAt(i + 1))) {
        i += 2;
        continue;
      }
      break;
    }
    i++;
  }
  Object.assign(stringMiss, { text, from: offset, to: i });
  return null;
}

/** Characters that begin some token (or whitespace); a junk run stops before the next of them. */
const STARTS = /[A-Za-z0-9_ \t\r\n"/(){}[\],:.@=<>!+\-*%]/;

/** Junk runs seen since the last beginLex, and after how many the lexer gives up. */
let junkRuns = 0;
let junkLimit = Infinity;

/** Resets the junk count before a tokenize: after `limit` runs the next one takes the rest of the text. */
export function beginLex(limit: number): void {
  junkRuns = 0;
  junkLimit = limit;
}

/**
 * A run of characters that start no token. Only reached when no other pattern matched at
 * `offset`, so the first character is junk whatever it is (a lone `!`, an unclosed `"`). Past the
 * limit set by beginLex the run is the whole rest of the text: the lexer stops there.
 */
export function junkAt(text: string, offset: number): Match {
  if (offset >= text.length) return null;
  if (++junkRuns > junkLimit) return [text.slice(offset)];
  let i = offset + 1;
  while (i < text.length && !STARTS.test(text[i]!)) i++;
  return [text.slice(offset, i)];
}
