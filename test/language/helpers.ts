/** Helpers for the language tests: check inline sources without touching the disk. */
import { checkFiles, checkSources } from '../../compiler/frontend.ts';
import type { Diagnostic } from '../../grammar/diagnostics.ts';

export const DIT_PATH = 'models/dit.ditto';

/** Checks `text` as file `file` (it may `use "models/…"` files on disk via relative paths). */
export function diagnose(text: string, file = 'models/test_inline.ditto'): Diagnostic[] {
  return checkSources([file], { inline: new Map([[file, text]]) }).diagnostics;
}

export function errors(text: string, file?: string): Diagnostic[] {
  return diagnose(text, file).filter((d) => d.severity === 'error');
}

export function rendered(text: string, file = 'models/test_inline.ditto'): string {
  return checkFiles([file], { inline: new Map([[file, text]]) }).rendered;
}

/** The source text a diagnostic's span covers. */
export function spanText(text: string, d: Diagnostic): string {
  return d.span ? text.slice(d.span.start, d.span.end) : '';
}
