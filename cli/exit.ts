/**
 * The CLI's error and exit-code contract: 0 ok; 1 user error (bad input, bad file, no adapter: a
 * DittoError that is not E_INTERNAL, or a usage error); 2 internal error (one line + "this is a
 * bug"; the stack only with --debug).
 */
import { isDittoError } from '../core/errors.ts';

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_INTERNAL = 2;

export function reportError(e: unknown, debug: boolean, write: (s: string) => void): number {
  if (isDittoError(e) && e.isUserError) {
    write(`error[${e.code}]: ${e.message}\n`);
    if (e.detail) write(e.detail.endsWith('\n') ? e.detail : e.detail + '\n');
    if (debug && e.stack) write(e.stack + '\n');
    return EXIT_USER;
  }
  const msg = e instanceof Error ? e.message : String(e);
  write(`internal error: ${msg.split('\n')[0]} (this is a bug in ditto; rerun with --debug for the stack)\n`);
  if (debug && e instanceof Error && e.stack) write(e.stack + '\n');
  return EXIT_INTERNAL;
}
