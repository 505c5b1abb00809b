/**
 * Corrupted weight files: safetensors (truncation, lying header lengths, overlapping or
 * out-of-range offsets, unknown dtypes, huge shapes, non-finite values, duplicate keys, flipped
 * bytes), PyTorch .pt archives (truncation and flipped bytes of the shipped test fixtures) and
 * .npy schedule tables. Weight files go through `ditto weights convert` in-process: exit 0 must
 * leave a file that loads with every value finite.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseNpyInts, encodeNpyInt64 } from '../../compiler/schedule/npy.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { cliCase, libraryCase, type Outcome, type Rng } from './harness.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PT_FIXTURES = ['f32.pt', 'f16.pt', 'bf16_ema.pt', 'deflated.pt'].map((f) => readFileSync(path.join(ROOT, 'test/weights/fixtures', f)));

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** A small valid safetensors file as (header object, data bytes). */
function baseSafetensors(r: Rng): { header: Record<string, Entry | Record<string, string>>; data: Buffer } {
  const header: Record<string, Entry | Record<string, string>> = { __metadata__: { format: 'pt' } };
  const parts: Buffer[] = [];
  let off = 0;
  for (let t = 0; t < 1 + r.int(4); t++) {
    const shape = [1 + r.int(4), 1 + r.int(4)];
    const n = shape[0]! * shape[1]!;
    const f = new Float32Array(n).map(() => r.float() * 2 - 1);
    const b = Buffer.from(f.buffer);
    header[`t${t}.weight`] = { dtype: 'F32', shape, data_offsets: [off, off + b.length] };
    parts.push(b);
    off += b.length;
  }
  return { header, data: Buffer.concat(parts) };
}

function assemble(headerJson: string, data: Buffer, lie?: bigint): Buffer {
  const h = Buffer.from(headerJson, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lie ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

function tensors(header: Record<string, unknown>): Entry[] {
  return Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => v as Entry);
}

export const WEIGHT_KINDS = ['truncate', 'header-length', 'offsets', 'dtype', 'huge-shape', 'non-finite', 'duplicate-key', 'flip', 'pt', 'npy'] as const;
export type WeightKind = (typeof WEIGHT_KINDS)[number];

/** The bytes of one corrupted file and its extension. */
export function generateWeightFile(r: Rng, kind: WeightKind): { bytes: Buffer; ext: string } {
  if (kind === 'pt') {
    const b = Buffer.from(r.pick(PT_FIXTURES));
    if (r.bool()) return { bytes: b.subarray(0, r.int(b.length)), ext: '.pt' };
    for (let k = 1 + r.int(8); k > 0; k--) b[r.int(b.length)] = r.int(256);
    return { bytes: b, ext: '.pt' };
  }
  if (kind === 'npy') {
    const b = Buffer.from(encodeNpyInt64(Array.from({ length: 1 + r.int(60) }, () => r.int(4))));
    switch (r.int(3)) {
      case 0:
        return { bytes: b.subarray(0, r.int(b.length)), ext: '.npy' };
      case 1: {
        const h = b.toString('latin1').replace(/'shape': \(\d+,\)/, `'shape': (${r.pick(['-1', '99999999999', '2, 3', '', '1e9'])},)`).replace(/<i8/, r.pick(['<i8', '<f4', '>i8', '|b1', '<U3']));
        return { bytes: Buffer.from(h, 'latin1'), ext: '.npy' };
      }
      default:
        for (let k = 1 + r.int(6); k > 0; k--) b[r.int(b.length)] = r.int(256);
        return { bytes: b, ext: '.npy' };
    }
  }
  const { header, data } = baseSafetensors(r);
  const ts = tensors(header);
  const victim = r.pick(ts);
  switch (kind) {
    case 'truncate': {
      const full = assemble(JSON.stringify(header), data);
      return { bytes: full.subarray(0, r.int(full.length)), ext: '.safetensors' };
    }
    case 'header-length': {
      const real = BigInt(Buffer.byteLength(JSON.stringify(header)));
      const lie = r.pick([0n, 1n, real - 1n, real + 1n, real + 1000n, 2n ** 40n, 2n ** 63n, 2n ** 64n - 1n]);
      return { bytes: assemble(JSON.stringify(header), data, lie < 0n ? 0n : lie), ext: '.safetensors' };
    }
    case 'offsets': {
      const [a, b] = victim.data_offsets;
      victim.data_offsets = r.pick<[number, number]>([[0, b - a], [a, b + 4], [b, a], [a, a], [a + 2, b + 2], [a, data.length + 4096], [-4, b], [a, 2 ** 53]]);
      return { bytes: assemble(JSON.stringify(header), data), ext: '.safetensors' };
    }
    case 'dtype':
      victim.dtype = r.pick(['F64', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'Q4', '', 'f32', 'BF16', 'I64', 'C64']);
      return { bytes: assemble(JSON.stringify(header), data), ext: '.safetensors' };
    case 'huge-shape':
      victim.shape = r.pick([[2 ** 20, 2 ** 20], [2 ** 31], [-1, 4], [0], [1.5, 2], [2 ** 53, 2], Array(40).fill(2)]);
      return { bytes: assemble(JSON.stringify(header), data), ext: '.safetensors' };
    case 'non-finite': {
      const f = new Float32Array(data.buffer, data.byteOffset, data.length / 4);
      f[r.int(f.length)] = r.pick([NaN, Infinity, -Infinity]);
      return { bytes: assemble(JSON.stringify(header), data), ext: '.safetensors' };
    }
    case 'duplicate-key': {
      // JSON.stringify cannot repeat a key: splice the first tensor's entry in twice by hand.
      const json = JSON.stringify(header);
      const [name, entry] = Object.entries(header).find(([k]) => k !== '__metadata__')!;
      const dup = `${JSON.stringify(name)}:${JSON.stringify({ ...(entry as Entry), shape: [1] , data_offsets: [0, 4] })},`;
      return { bytes: assemble(`{${dup}${json.slice(1)}`, data), ext: '.safetensors' };
    }
    default: {
      const b = assemble(JSON.stringify(header), data);
      for (let k = 1 + r.int(8); k > 0; k--) b[r.int(b.length)] = r.int(256);
      return { bytes: b, ext: '.safetensors' };
    }
  }
}

/** The converted file loads, with every value finite (loadWeights checks that by default). */
function convertedIsFinite(out: string): string | undefined {
  try {
    loadWeights(out);
    return undefined;
  } catch (e) {
    return `exit 0 but the output does not load clean: ${(e as Error).message.split('\n')[0]}`;
  }
}

export async function weightCase(r: Rng, kind: WeightKind, dir: string, i: number): Promise<Outcome> {
  const { bytes, ext } = generateWeightFile(r, kind);
  const file = path.join(dir, `w${i}${ext}`);
  writeFileSync(file, bytes);
  if (ext === '.npy') return libraryCase(() => void parseNpyInts(new Uint8Array(bytes), file));
  const out = path.join(dir, `w${i}.out.safetensors`);
  const verb = r.bool(0.8) ? ['weights', 'convert', file, out] : ['weights', 'inspect', file];
  return cliCase(verb, [file], verb[1] === 'convert' ? () => convertedIsFinite(out) : undefined);
}
