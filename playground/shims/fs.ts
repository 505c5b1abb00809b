/**
 * node:fs for the browser bundle: a read-only, in-memory view of the repository files the
 * compiler reads (models/*.ditto, the shipped schedules and their tables), plus the files the page
 * puts there (the editor's text). Writes are refused with a DittoError.
 */
import { DittoError } from '../../core/errors.ts';
import { files as shipped } from 'ditto-vfs';

const files = new Map<string, Uint8Array>(Object.entries(shipped).map(([p, b64]) => [p, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]));

/** Puts a text file into the virtual file system (the editor's schedule). */
export function writeVirtualFile(path: string, text: string): void {
  files.set(path, new TextEncoder().encode(text));
}

/** The paths of the virtual file system under a folder, sorted. */
export function listVirtualFiles(folder: string): string[] {
  return [...files.keys()].filter((p) => p.startsWith(folder)).sort();
}

function enoent(path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, '${path}'`), { code: 'ENOENT' });
}

function isDir(path: string): boolean {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  for (const p of files.keys()) if (p.startsWith(prefix)) return true;
  return false;
}

export function existsSync(path: string): boolean {
  return files.has(String(path)) || isDir(String(path));
}

export function statSync(path: string): { isDirectory(): boolean; isFile(): boolean; size: number } {
  const p = String(path);
  if (files.has(p)) return { isDirectory: () => false, isFile: () => true, size: files.get(p)!.length };
  if (isDir(p)) return { isDirectory: () => true, isFile: () => false, size: 0 };
  throw enoent(p);
}

export function readFileSync(path: string, encoding?: string | { encoding?: string }): Uint8Array | string {
  const p = String(path);
  const bytes = files.get(p);
  if (!bytes) throw isDir(p) ? Object.assign(new Error(`EISDIR: '${p}'`), { code: 'EISDIR' }) : enoent(p);
  const enc = typeof encoding === 'string' ? encoding : encoding?.encoding;
  if (enc) return new TextDecoder().decode(bytes);
  // Buffer-like enough for the callers: a Uint8Array with toString('utf8').
  const out = bytes.slice();
  return Object.assign(out, { toString: () => new TextDecoder().decode(out) });
}

export function readdirSync(path: string): string[] {
  const prefix = String(path).endsWith('/') ? String(path) : `${String(path)}/`;
  const names = new Set<string>();
  for (const p of files.keys()) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split('/')[0]!);
  if (!names.size) throw enoent(String(path));
  return [...names].sort();
}

function readOnly(): never {
  throw new DittoError('E_USAGE', 'the browser playground cannot write files');
}
export const writeFileSync = readOnly;
export const renameSync = readOnly;
export const rmSync = readOnly;
export const openSync = readOnly;
export const closeSync = (): void => undefined;
export const fstatSync = readOnly;
export const readSync = readOnly;
export const writeSync = readOnly;
export const mkdirSync = readOnly;

export default { existsSync, statSync, readFileSync, readdirSync, writeFileSync, renameSync, rmSync, openSync, closeSync, fstatSync, readSync, writeSync, mkdirSync };
