/**
 * The one error type of the project. Every failure a user can cause (bad source text, bad weights,
 * bad flags, no GPU adapter) is a DittoError with a stable code, a message the user can act on and,
 * where the failure has a place in a file, a source span. Anything else that escapes is a bug.
 */

/** A place in a source file. Lines and columns are 1-based; `end` is exclusive. */
export interface SourceSpan {
  file: string;
  line: number;
  column: number;
  /** Character offsets into the file text, [start, end). */
  start: number;
  end: number;
}

/** Error codes, grouped by the part of the system that raises them. */
export type ErrorCode =
  // language
  | 'E_SYNTAX'
  | 'E_CHECK'
  // files and formats
  | 'E_IO'
  | 'E_WEIGHTS'
  | 'E_TABLE'
  | 'E_PLAN'
  | 'E_INPUT'
  // command line
  | 'E_USAGE'
  // GPU
  | 'E_NO_ADAPTER'
  | 'E_GPU'
  | 'E_NUMERIC'
  // the caller cancelled (an AbortSignal)
  | 'E_ABORTED'
  // not the user's fault
  | 'E_INTERNAL';

export class DittoError extends Error {
  override readonly name = 'DittoError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly span?: SourceSpan,
    /** Further lines shown under the message (for example a rendered source excerpt). */
    readonly detail?: string,
  ) {
    super(message);
  }

  /** True for errors the user caused and can fix (exit code 1); false for bugs (exit code 2). */
  get isUserError(): boolean {
    return this.code !== 'E_INTERNAL';
  }
}

/** Throws a DittoError(E_INTERNAL) when an invariant the code relies on does not hold. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new DittoError('E_INTERNAL', message);
}

export function isDittoError(e: unknown): e is DittoError {
  return e instanceof DittoError;
}
