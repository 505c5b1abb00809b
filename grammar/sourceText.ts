/**
 * Bytes → source text. A .ditto file is UTF-8 text; a weights file or a table passed where a
 * source belongs would otherwise lex into tens of thousands of diagnostics. Such input gets one
 * diagnostic that says what the file looks like instead.
 */
import type { SourceSpan } from '../core/errors.ts';

export type SourceDecode = { ok: true; text: string } | { ok: false; message: string; span: SourceSpan };

/** What a binary file probably is, from its first bytes (the formats a ditto user handles). */
function guessFormat(buf: Uint8Array): string | undefined {
  const ascii = (from: number, n: number) => String.fromCharCode(...buf.subarray(from, from + n));
  if (ascii(0, 4) === 'PK\x03\x04') return 'a zip archive (a PyTorch .pt checkpoint?); weights go to --weights';
  if (ascii(0, 6) === '\x93NUMPY') return 'a NumPy .npy array; a schedule reads a table with `table "FILE.npy"`';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'a PNG image';
  // safetensors: an 8-byte little-endian header length, then a JSON object.
  if (buf.length > 9 && buf[8] === 0x7b && buf[6] === 0 && buf[7] === 0) return 'a safetensors weights file; weights go to --weights';
  return undefined;
}

function spanAt(text: string, index: number, file: string): SourceSpan {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { file, line, column: index - lineStart + 1, start: index, end: index + 1 };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function decodeSource(file: string, buf: Uint8Array): SourceDecode {
  // TextDecoder/TextEncoder rather than Buffer: the checker also runs in a web page (playground/).
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
  const nul = text.indexOf('\0');
  // Re-encoding differs from the bytes exactly when some byte sequence was not valid UTF-8.
  const invalid = sameBytes(new TextEncoder().encode(text), buf) ? -1 : text.indexOf('\uFFFD');
  if (nul === -1 && invalid === -1) return { ok: true, text };
  const at = nul === -1 ? invalid : invalid === -1 ? nul : Math.min(nul, invalid);
  const span = spanAt(text, at, file);
  const what = at === nul ? 'binary data (a NUL byte)' : 'bytes that are not UTF-8';
  const guess = guessFormat(buf);
  return {
    ok: false,
    span,
    message: `this is not a .ditto source: it holds ${what} at line ${span.line}, column ${span.column}${guess ? `; it looks like ${guess}` : ''}`,
  };
}
