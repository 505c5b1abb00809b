/**
 * A shard on disk (a folder) and as one JSON value (a queue job's result).
 *
 * Folder layout:
 *   shard.json      — ShardMeta plus a format tag; written last, so a folder with shard.json is complete
 *   images-<r>.f32  — row r's images, raw little-endian f32, [n, C, H, W]
 *   features-<r>.f64, logits-<r>.f64 — the classifier's outputs per image (absent where it does not apply)
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import { tensor } from '../../core/tensor.ts';
import { writeError, writeFileAtomic } from '../../core/files.ts';
import { FEATURE_DIM, NUM_CLASSES, type ClassifierOutput } from '../metrics/classifier.ts';
import type { ShardMeta, ShardResult } from './shard.ts';

export const SHARD_FILE = 'shard.json';
const FORMAT = 'ditto-eval-shard';
const VERSION = 1;

const bytesOf = (a: Float32Array | Float64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function f32(buf: Uint8Array): Float32Array {
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}
function f64(buf: Uint8Array): Float64Array {
  return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** Writes `shard` into `dir` (created if needed); shard.json goes last. */
export function writeShard(dir: string, shard: ShardResult): string {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw writeError(dir, e);
  }
  const json = path.join(dir, SHARD_FILE);
  // A folder holding an older shard.json must not look complete while its data files are replaced.
  rmSync(json, { force: true });
  for (const [r, im] of shard.images.entries()) {
    writeFileAtomic(path.join(dir, `images-${r}.f32`), bytesOf(Float32Array.from(im.data)));
    const out = shard.classified?.[r];
    if (out) {
      writeFileAtomic(path.join(dir, `features-${r}.f64`), bytesOf(out.features));
      writeFileAtomic(path.join(dir, `logits-${r}.f64`), bytesOf(out.logits));
    }
  }
  writeFileAtomic(json, JSON.stringify({ format: FORMAT, version: VERSION, classified: shard.classified !== undefined, ...shard.meta }, null, 1) + '\n');
  return json;
}

function bad(where: string, what: string): DittoError {
  return new DittoError('E_INPUT', `${where}: ${what}`);
}

const isInt = (v: unknown, min = 0): v is number => Number.isInteger(v) && (v as number) >= min;

/** Checks the parts of shard.json the merge relies on; `where` names the file in errors. */
function checkMeta(raw: unknown, where: string): ShardMeta & { classified: boolean } {
  if (typeof raw !== 'object' || raw === null) throw bad(where, 'not a JSON object');
  const m = raw as Record<string, unknown>;
  if (m.format !== FORMAT) throw bad(where, `not an eval shard (format ${JSON.stringify(m.format)}, expected "${FORMAT}")`);
  if (m.version !== VERSION) throw bad(where, `shard format version ${JSON.stringify(m.version)}; this ditto reads version ${VERSION}`);
  const meta = m as unknown as ShardMeta & { classified: boolean };
  const ok =
    isInt(meta.shard?.index) &&
    isInt(meta.shard?.count, 1) &&
    isInt(meta.samples?.first) &&
    isInt(meta.samples?.end) &&
    meta.samples.end > meta.samples.first &&
    isInt(meta.batches?.first) &&
    isInt(meta.batches?.end) &&
    isInt(meta.totalSamples, 1) &&
    typeof meta.settings === 'object' &&
    meta.settings !== null &&
    Array.isArray(meta.plans) &&
    Array.isArray(meta.seconds) &&
    typeof meta.report === 'object' &&
    Array.isArray(meta.report?.rows) &&
    Array.isArray(meta.report?.imageShape) &&
    meta.report.imageShape.length === 3 &&
    meta.report.rows.length === meta.plans.length &&
    meta.seconds.length === meta.plans.length &&
    meta.seconds.every((s) => typeof s === 'number') &&
    typeof meta.classified === 'boolean';
  if (!ok) throw bad(where, 'missing or malformed fields (shard, samples, batches, totalSamples, settings, plans, seconds, report); was it written by `ditto eval --shard`?');
  return meta;
}

/** Rebuilds a shard from its meta and raw arrays, checking every length. */
function assemble(meta: ShardMeta & { classified: boolean }, where: string, images: Uint8Array[], features: Uint8Array[] | undefined, logits: Uint8Array[] | undefined): ShardResult {
  const n = meta.samples.end - meta.samples.first;
  const [c, h, w] = meta.report.imageShape;
  const rows = meta.plans.length;
  const expect = (buf: Uint8Array | undefined, bytes: number, what: string) => {
    if (!buf || buf.byteLength !== bytes) throw bad(where, `${what} holds ${buf?.byteLength ?? 0} bytes, expected ${bytes} for ${n} images`);
    return buf;
  };
  const imgs = Array.from({ length: rows }, (_, r) => tensor([n, c, h, w], f32(expect(images[r], n * c * h * w * 4, `images of row ${r}`))));
  let classified: ClassifierOutput[] | undefined;
  if (meta.classified) {
    classified = Array.from({ length: rows }, (_, r) => ({
      n,
      features: f64(expect(features?.[r], n * FEATURE_DIM * 8, `classifier features of row ${r}`)),
      logits: f64(expect(logits?.[r], n * NUM_CLASSES * 8, `classifier logits of row ${r}`)),
    }));
  }
  const { classified: _c, format: _f, version: _v, ...rest } = meta as ShardMeta & { classified: boolean; format?: string; version?: number };
  return { meta: rest, images: imgs, classified };
}

/** Reads a shard folder written by writeShard; anything missing or damaged is an E_INPUT error naming the file. */
export function readShard(dir: string): ShardResult {
  const json = path.join(dir, SHARD_FILE);
  if (!existsSync(json)) {
    throw new DittoError('E_INPUT', existsSync(dir) ? `'${dir}' holds no ${SHARD_FILE}: not a finished shard of \`ditto eval --shard\`` : `shard folder '${dir}' does not exist`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(json, 'utf8'));
  } catch (e) {
    throw bad(json, `unreadable (${(e as Error).message})`);
  }
  const meta = checkMeta(raw, json);
  const read = (name: string): Uint8Array | undefined => {
    const file = path.join(dir, name);
    return existsSync(file) ? readFileSync(file) : undefined;
  };
  const rows = meta.plans.length;
  const images = Array.from({ length: rows }, (_, r) => read(`images-${r}.f32`) ?? new Uint8Array(0));
  const features = meta.classified ? Array.from({ length: rows }, (_, r) => read(`features-${r}.f64`) ?? new Uint8Array(0)) : undefined;
  const logits = meta.classified ? Array.from({ length: rows }, (_, r) => read(`logits-${r}.f64`) ?? new Uint8Array(0)) : undefined;
  return assemble(meta, dir, images, features, logits);
}

/** A shard as one JSON-safe value (arrays as base64), for a queue job's result. */
export interface EncodedShard {
  meta: ShardMeta & { format: string; version: number; classified: boolean };
  images: string[];
  features: string[] | null;
  logits: string[] | null;
}

const b64 = (a: Float32Array | Float64Array) => Buffer.from(bytesOf(a)).toString('base64');

export function encodeShard(shard: ShardResult): EncodedShard {
  return {
    meta: { format: FORMAT, version: VERSION, classified: shard.classified !== undefined, ...shard.meta },
    images: shard.images.map((t) => b64(Float32Array.from(t.data))),
    features: shard.classified?.map((o) => b64(o.features)) ?? null,
    logits: shard.classified?.map((o) => b64(o.logits)) ?? null,
  };
}

/** decodeShard(encodeShard(s)) equals s; `where` names the source in errors. */
export function decodeShard(value: unknown, where: string): ShardResult {
  const v = value as Partial<EncodedShard> | null;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.images)) throw bad(where, 'not an encoded eval shard');
  const meta = checkMeta(v.meta, where);
  const dec = (s: string[] | null | undefined) => s?.map((x) => new Uint8Array(Buffer.from(String(x), 'base64')));
  return assemble(meta, where, dec(v.images)!, dec(v.features), dec(v.logits));
}
