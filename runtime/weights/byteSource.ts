/**
 * Random-access reads from a weight file. Checkpoints can be larger than a Node Buffer read at once
 * (readFileSync stops at 2 GiB; DiT-XL/2 is 2.7 GB), so the readers ask for the byte ranges they
 * need. Every read is bounds-checked against the file size first: a corrupt offset becomes a
 * DittoError naming the file, never an out-of-bounds read or a huge allocation.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DittoError } from '../../core/errors.ts';

export interface ByteSource {
  /** Name used in error messages (the file path). */
  readonly name: string;
  readonly size: number;
  /** Returns exactly `length` bytes starting at `offset`, in a fresh, 8-byte aligned buffer. */
  read(offset: number, length: number, what: string): Uint8Array;
  close(): void;
}

function checkRange(src: { name: string; size: number }, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new DittoError(
      'E_WEIGHTS',
      `${src.name}: ${what} lies at bytes [${offset}, ${offset + length}), beyond the end of the file (${src.size} bytes); the file is truncated or corrupt`,
    );
  }
}

export function bufferSource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.length,
    read(offset, length, what) {
      checkRange(this, offset, length, what);
      const out = new Uint8Array(length);
      out.set(bytes.subarray(offset, offset + length));
      return out;
    },
    close() {},
  };
}

/** `what` names the file's role in messages: weights, images, inputs, noise. */
export function fileSource(path: string, what = 'weights'): ByteSource {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new DittoError('E_IO', `cannot read ${what} '${path}': ${why}`);
  }
  const st = fstatSync(fd);
  if (st.isDirectory()) {
    closeSync(fd);
    throw new DittoError('E_IO', `cannot read ${what} '${path}': it is a directory`);
  }
  let open = true;
  return {
    name: path,
    size: st.size,
    read(offset, length, what) {
      checkRange(this, offset, length, what);
      const out = new Uint8Array(length);
      let done = 0;
      // readSync moves at most ~2 GiB per call; loop until the range is filled.
      while (done < length) {
        const n = readSync(fd, out, done, Math.min(length - done, 1 << 30), offset + done);
        if (n <= 0) throw new DittoError('E_IO', `${path}: unexpected end of file while reading ${what}`);
        done += n;
      }
      return out;
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
