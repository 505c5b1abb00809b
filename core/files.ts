/**
 * File helpers with the project's error contract: a missing or unreadable file is a DittoError
 * naming the path, and outputs are written to a temporary name and renamed at the end, so a
 * failed run never leaves a partial file behind.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DittoError } from './errors.ts';

export function readFileOrThrow(file: string, what = 'file'): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String((e as Error).message);
    throw new DittoError('E_IO', `cannot read ${what} '${file}': ${why}`);
  }
}

export function readTextOrThrow(file: string, what = 'file'): string {
  return readFileOrThrow(file, what).toString('utf8');
}

/** Writes `data` to `file` atomically: a temporary sibling first, then a rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (e) {
    removeTemporary(tmp);
    throw writeError(file, e);
  }
}

/** Removes a temporary file after a failed write; where it could never be created, there is nothing to do. */
export function removeTemporary(tmp: string): void {
  try {
    rmSync(tmp, { force: true });
  } catch {
    // ENOTDIR and the like: the temporary's directory is not a directory, so no file exists.
  }
}

/** The DittoError for a failed write of `file`, naming the reason in words. */
export function writeError(file: string, e: unknown): DittoError {
  if (e instanceof DittoError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'its directory does not exist'
    : code === 'EISDIR' ? 'it is a directory; name a file'
    : code === 'ENOTDIR' ? 'a part of its path is a file, not a directory'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOSPC' ? 'no space left on the device'
    : (e as Error).message;
  return new DittoError('E_IO', `cannot write '${file}': ${why}`);
}
