/**
 * The entry point of a bench script run directly (`npx tsx bench/<script>.ts`): runs `main` only
 * when the module is the one Node was started with (so tests and other scripts can import its
 * exports), then exits 0 on success, 1 on a user error (printed as `error[CODE]: message`) and 2 on
 * anything else (printed with its stack).
 */
import { isDittoError } from '../core/errors.ts';

export function runIfMain(moduleUrl: string, main: () => Promise<void>): void {
  if (!process.argv[1] || moduleUrl !== new URL(`file://${process.argv[1]}`).href) return;
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(isDittoError(e) ? `error[${e.code}]: ${e.message}\n` : `internal error: ${(e as Error).stack ?? e}\n`);
      process.exit(isDittoError(e) && e.isUserError ? 1 : 2);
    },
  );
}
