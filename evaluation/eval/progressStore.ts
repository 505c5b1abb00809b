/**
 * `ditto eval --resume`: the sampled batches of a long evaluation kept on disk, so an evaluation
 * that is interrupted (a closed terminal, a session that ends, a crash) continues where it stopped
 * instead of starting over, and a finished one can be extended to more samples.
 *
 * Layout of `<out-dir>/eval-progress/`:
 *   progress.json  — what the batches were sampled with (a fingerprint of every setting that changes
 *                    the images), how many batches are complete and the timed seconds per row;
 *                    replaced atomically after each batch, so it never names an unwritten batch.
 *   row-<i>.f32    — row i's images, batch after batch, raw little-endian f32.
 * A batch is appended to every row file first and counted in progress.json second; bytes past the
 * counted batches (a crash between the two) are cut off on resume.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { DittoError } from '../../core/errors.ts';
import { tensor, type Tensor } from '../../core/tensor.ts';
import { writeError, writeFileAtomic } from '../../core/files.ts';

export const PROGRESS_DIR = 'eval-progress';
const VERSION = 1;

/** Every setting that changes what a batch samples, in words a mismatch message can show. */
export type ProgressSettings = Record<string, string | number | null>;

export interface ResumedProgress {
  batches: number;
  /** Per row, one [batch, C, H, W] tensor per complete batch. */
  parts: Tensor[][];
  seconds: number[];
  /** Per row, the seconds of each complete batch (undefined where a file written before batch
   *  times were kept does not say). */
  batchSeconds: (number | undefined)[][];
}

interface ProgressFile {
  version: number;
  settings: ProgressSettings;
  batches: number;
  seconds: number[];
  /** Per row, per complete batch (absent in files written before it was kept). */
  batchSeconds?: number[][];
}

/** sha256 over tensors in name order: names, shapes and data, so any changed weight is seen. */
export function weightsDigest(weights: ReadonlyMap<string, Tensor>): string {
  const h = createHash('sha256');
  for (const name of [...weights.keys()].sort()) {
    const t = weights.get(name)!;
    h.update(`${name}:${t.dtype}:${t.shape.join('x')};`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

export class ProgressStore {
  readonly dir: string;
  private readonly jsonFile: string;

  constructor(
    outDir: string,
    private readonly settings: ProgressSettings,
    private readonly rows: number,
    /** Floats per batch of one row: batch × C × H × W. */
    private readonly batchFloats: number,
    private readonly batchShape: number[],
  ) {
    this.dir = path.join(outDir, PROGRESS_DIR);
    this.jsonFile = path.join(this.dir, 'progress.json');
  }

  private rowFile(i: number): string {
    return path.join(this.dir, `row-${i}.f32`);
  }

  /**
   * The batches saved by an earlier run with the same settings, or undefined when there are none.
   * Saved batches made with other settings are an error naming the settings that differ: mixing them
   * would score images from different experiments as one.
   */
  load(): ResumedProgress | undefined {
    if (!existsSync(this.jsonFile)) return undefined;
    const where = `the saved progress in '${this.dir}'`;
    let saved: ProgressFile;
    try {
      saved = JSON.parse(readFileSync(this.jsonFile, 'utf8')) as ProgressFile;
    } catch (e) {
      throw new DittoError('E_INPUT', `${where} is unreadable (${(e as Error).message}); delete that folder to start over`);
    }
    if (saved.version !== VERSION || typeof saved.settings !== 'object' || saved.settings === null || !Number.isInteger(saved.batches) || saved.batches < 0 || !Array.isArray(saved.seconds)) {
      throw new DittoError('E_INPUT', `${where} is not a progress file of this ditto version; delete that folder to start over`);
    }
    const differ = settingsDifferences(saved.settings, this.settings, 'saved', 'now');
    if (differ.length) {
      throw new DittoError('E_USAGE', `${where} was sampled with other settings (${differ.join('; ')}); run with the saved settings, choose another --out-dir, or delete that folder to start over`);
    }
    if (saved.seconds.length !== this.rows) throw new DittoError('E_INPUT', `${where} has ${saved.seconds.length} rows, expected ${this.rows}; delete that folder to start over`);
    const bytes = saved.batches * this.batchFloats * 4;
    const parts: Tensor[][] = [];
    for (let i = 0; i < this.rows; i++) {
      const file = this.rowFile(i);
      const size = existsSync(file) ? statSync(file).size : 0;
      if (size < bytes) throw new DittoError('E_INPUT', `${where}: ${path.basename(file)} holds ${size} bytes, fewer than the ${saved.batches} batches progress.json counts (${bytes} bytes); delete that folder to start over`);
      // A batch appended but never counted (interrupted between the two writes) is dropped.
      if (size > bytes) truncateSync(file, bytes);
      // A run stopped before its first batch leaves progress.json counting 0 and no row files.
      if (bytes === 0) {
        parts.push([]);
        continue;
      }
      let buf: Buffer;
      try {
        buf = readFileSync(file);
      } catch (e) {
        throw new DittoError('E_INPUT', `${where}: cannot read ${path.basename(file)} (${(e as Error).message}); delete that folder to start over`);
      }
      const all = new Float32Array(buf.buffer, buf.byteOffset, bytes / 4);
      parts.push(Array.from({ length: saved.batches }, (_, j) => tensor([...this.batchShape], all.slice(j * this.batchFloats, (j + 1) * this.batchFloats))));
    }
    const perBatch = saved.batchSeconds;
    const batchSecondsOk = Array.isArray(perBatch) && perBatch.length === this.rows && perBatch.every((r) => Array.isArray(r) && r.length === saved.batches && r.every((t) => typeof t === 'number'));
    const batchSeconds = batchSecondsOk ? perBatch.map((r) => r.map((t) => (t >= 0 ? t : undefined))) : Array.from({ length: this.rows }, () => new Array<number | undefined>(saved.batches).fill(undefined));
    return { batches: saved.batches, parts, seconds: saved.seconds.map(Number), batchSeconds };
  }

  /** Starts an empty store (removing row files a fresh run would otherwise append to). */
  start(): void {
    this.ensureDir();
    for (let i = 0; i < this.rows; i++) {
      const file = this.rowFile(i);
      if (existsSync(file)) truncateSync(file, 0);
    }
    this.writeJson(0, new Array<number>(this.rows).fill(0), Array.from({ length: this.rows }, () => []));
  }

  /** Appends batch `done - 1` (one tensor per row) and records `done` complete batches, the rows'
   *  total seconds and each batch's (a time not known is written as -1, which no batch takes). */
  append(images: Tensor[], done: number, seconds: number[], batchSeconds: readonly (readonly (number | undefined)[])[]): void {
    for (const [i, t] of images.entries()) {
      if (t.data.length !== this.batchFloats) throw new DittoError('E_INTERNAL', `progress: row ${i} batch has ${t.data.length} values, expected ${this.batchFloats}`);
      const f32 = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
      try {
        appendFileSync(this.rowFile(i), new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength));
      } catch (e) {
        throw writeError(this.rowFile(i), e);
      }
    }
    this.writeJson(done, seconds, batchSeconds.map((r) => r.map((t) => t ?? -1)));
  }

  private ensureDir(): void {
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw writeError(this.dir, e);
    }
  }

  private writeJson(batches: number, seconds: number[], batchSeconds: number[][]): void {
    const body: ProgressFile = { version: VERSION, settings: this.settings, batches, seconds, batchSeconds };
    writeFileAtomic(this.jsonFile, JSON.stringify(body, null, 1) + '\n');
  }
}

/**
 * `key: saved "ddpm", now "ddim"` for every setting that differs between `a` and `b` (labelled
 * `aLabel` and `bLabel`); digests are shortened to 12 hex digits.
 */
export function settingsDifferences(a: ProgressSettings, b: ProgressSettings, aLabel: string, bLabel: string): string[] {
  return Object.keys({ ...a, ...b })
    .filter((k) => a[k] !== b[k])
    .map((k) => `${k}: ${aLabel} ${show(a[k])}, ${bLabel} ${show(b[k])}`);
}

function show(v: string | number | null | undefined): string {
  if (v === undefined) return 'absent';
  if (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) return `${v.slice(0, 12)}…`;
  return JSON.stringify(v);
}
