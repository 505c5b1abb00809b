/**
 * A small, careful reader of zip central directories, enough for PyTorch's `.pt` archives (which
 * torch writes STORED, 64-byte aligned, ZIP64 when large). Deflated entries are inflated with
 * node:zlib. Every offset and size read from the file is checked against the file length before
 * use, so a corrupt archive is an error, never an out-of-bounds read or a huge allocation.
 * CRCs are not verified (a 2.7 GB checkpoint would pay seconds for it).
 */
import { inflateRawSync } from 'node:zlib';
import { DittoError } from '../../core/errors.ts';
import type { ByteSource } from './byteSource.ts';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

function fail(src: ByteSource, message: string): never {
  throw new DittoError('E_WEIGHTS', `${src.name}: ${message}`);
}

function u64(v: DataView, at: number, src: ByteSource, what: string): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) fail(src, `${what} ${x} is out of range`);
  return Number(x);
}

/** True when the first bytes are a zip local-file header (`PK\x03\x04`). */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

export function readZipDirectory(src: ByteSource): ZipEntry[] {
  if (src.size < 22) fail(src, `not a zip file (${src.size} bytes, too short for an end-of-central-directory record)`);
  // The EOCD record sits at the end, followed by a comment of at most 65 535 bytes.
  const tailLen = Math.min(src.size, 22 + 65535);
  const tailStart = src.size - tailLen;
  const tail = src.read(tailStart, tailLen, 'the zip directory trailer');
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(src, 'not a zip file (no end-of-central-directory record)');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locAt = tailStart + eocd - 20;
    if (locAt < 0) fail(src, 'ZIP64 archive without a ZIP64 locator');
    const loc = new DataView(src.read(locAt, 20, 'the ZIP64 locator').buffer);
    if (loc.getUint32(0, true) !== SIG_ZIP64_LOCATOR) fail(src, 'ZIP64 archive without a ZIP64 locator');
    const recAt = u64(loc, 8, src, 'ZIP64 record offset');
    const rec = new DataView(src.read(recAt, 56, 'the ZIP64 end-of-central-directory record').buffer);
    if (rec.getUint32(0, true) !== SIG_ZIP64_EOCD) fail(src, 'bad ZIP64 end-of-central-directory record');
    count = u64(rec, 32, src, 'ZIP64 entry count');
    cdSize = u64(rec, 40, src, 'ZIP64 directory size');
    cdOffset = u64(rec, 48, src, 'ZIP64 directory offset');
  }
  if (count * 46 > cdSize) fail(src, `zip directory claims ${count} entries in ${cdSize} bytes`);
  const cd = src.read(cdOffset, cdSize, 'the zip central directory');
  const v = new DataView(cd.buffer);
  const names = new TextDecoder('utf-8');
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdSize || v.getUint32(p, true) !== SIG_CENTRAL) fail(src, `zip central directory entry ${k} is corrupt`);
    const flags = v.getUint16(p + 8, true);
    const method = v.getUint16(p + 10, true);
    let compressedSize = v.getUint32(p + 20, true);
    let size = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let localHeaderOffset = v.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdSize) fail(src, `zip central directory entry ${k} runs past the directory`);
    const name = names.decode(cd.subarray(p + 46, p + 46 + nameLen));
    if (flags & 1) fail(src, `zip entry '${name}' is encrypted`);
    // ZIP64 extended information: the 64-bit values, in this order, for the fields that are all ones.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = v.getUint16(e, true);
      const len = v.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) break;
      if (id === 0x0001) {
        let q = e + 4;
        const next = (what: string) => {
          if (q + 8 > e + 4 + len) fail(src, `zip entry '${name}': short ZIP64 extra field`);
          const x = u64(v, q, src, what);
          q += 8;
          return x;
        };
        if (size === 0xffffffff) size = next('entry size');
        if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next('entry offset');
      }
      e += 4 + len;
    }
    entries.push({ name, method, compressedSize, size, localHeaderOffset });
    p = end;
  }
  return entries;
}

/** The uncompressed bytes of one entry, bounds-checked. */
export function readZipEntry(src: ByteSource, entry: ZipEntry): Uint8Array {
  const lh = src.read(entry.localHeaderOffset, 30, `the local header of zip entry '${entry.name}'`);
  const lv = new DataView(lh.buffer);
  if (lv.getUint32(0, true) !== SIG_LOCAL) fail(src, `zip entry '${entry.name}' has a corrupt local header`);
  const dataAt = entry.localHeaderOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) fail(src, `stored zip entry '${entry.name}' has different sizes`);
    return src.read(dataAt, entry.size, `zip entry '${entry.name}'`);
  }
  if (entry.method === 8) {
    const packed = src.read(dataAt, entry.compressedSize, `zip entry '${entry.name}'`);
    let out: Buffer;
    try {
      // maxOutputLength bounds the allocation by the declared size (a zip bomb cannot exceed it).
      out = inflateRawSync(packed, { maxOutputLength: Math.max(1, entry.size) });
    } catch (e) {
      fail(src, `zip entry '${entry.name}' does not inflate: ${(e as Error).message}`);
    }
    if (out.length !== entry.size) fail(src, `zip entry '${entry.name}' inflates to ${out.length} bytes, not the declared ${entry.size}`);
    const copy = new Uint8Array(out.length);
    copy.set(out);
    return copy;
  }
  fail(src, `zip entry '${entry.name}' uses compression method ${entry.method}; ditto reads stored (0) and deflated (8) entries`);
}
