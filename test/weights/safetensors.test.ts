import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';
import { bufferSource } from '../../runtime/weights/byteSource.ts';
import { openSafetensors, serializeSafetensors } from '../../runtime/weights/safetensors.ts';
import { loadWeights, openWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { concat, rawSafetensors, tempDir } from './helpers.ts';

function readAll(bytes: Uint8Array): Map<string, Tensor> {
  const wf = openSafetensors(bufferSource(bytes, 'mem.safetensors'));
  return new Map(wf.records.map((r) => [r.name, r.load()]));
}

function weightsError(f: () => unknown): DittoError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    expect((e as DittoError).code).toBe('E_WEIGHTS');
    return e as DittoError;
  }
  throw new Error('expected a DittoError(E_WEIGHTS)');
}

const f32 = (n: number) => new Uint8Array(new Float32Array(n).fill(1).buffer);

describe('safetensors round trips', () => {
  it('writes and reads f32 and i32 tensors with metadata', () => {
    const ts = new Map<string, Tensor>([
      ['a.weight', tensor([2, 3], [1, 2, 3, 4, 5, 6])],
      ['ids', intTensor([3], [-1, 0, 2147483647])],
      ['empty', tensor([0, 4])],
      ['scalar', tensor([], [7.5])],
    ]);
    const bytes = serializeSafetensors(ts, { note: 'hi' });
    // The data area starts 8-byte aligned.
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const wf = openSafetensors(bufferSource(bytes, 'mem'));
    expect(wf.metadata).toEqual({ note: 'hi' });
    const back = readAll(bytes);
    expect([...back.keys()]).toEqual([...ts.keys()]);
    for (const [k, t] of ts) {
      expect(back.get(k)!.shape).toEqual(t.shape);
      expect(back.get(k)!.dtype).toBe(t.dtype);
      expect(Array.from(back.get(k)!.data)).toEqual(Array.from(t.data));
    }
  });

  it('write → read is the identity for random tensors (property)', () => {
    const tensorArb = fc
      .array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 })
      .chain((shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.oneof(
          fc.array(fc.float({ noNaN: true }), { minLength: n, maxLength: n }).map((v) => tensor(shape, Float32Array.from(v))),
          fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: n, maxLength: n }).map((v) => intTensor(shape, v)),
        );
      });
    // Regression: fast-check found that a tensor named `__proto__` set the header's prototype.
    const proto = new Map([['__proto__', intTensor([1], [7])], ['constructor', intTensor([], [3])]]);
    const protoBack = readAll(serializeSafetensors(proto));
    expect([...protoBack.keys()].sort()).toEqual(['__proto__', 'constructor']);
    expect(Array.from(protoBack.get('__proto__')!.data)).toEqual([7]);
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__'), tensorArb, { maxKeys: 5 }), (dict) => {
        const ts = new Map(Object.entries(dict));
        const back = readAll(serializeSafetensors(ts));
        expect(back.size).toBe(ts.size);
        for (const [k, t] of ts) {
          const b = back.get(k)!;
          expect(b.shape).toEqual(t.shape);
          expect(b.dtype).toBe(t.dtype);
          // Object.is per element: -0 and +0 must survive.
          expect(Array.from(b.data).every((v, i) => Object.is(v, t.data[i]))).toBe(true);
        }
      }),
    );
  });

  it('writes f16 on request and reads it back rounded to f16', () => {
    const ts = new Map([['w', tensor([4], [1, 0.1, -65504, 1e-8])]]);
    const bytes = serializeSafetensors(ts, undefined, { floatType: 'f16' });
    const wf = openSafetensors(bufferSource(bytes, 'mem'));
    expect(wf.records[0]!.dtype).toBe('F16');
    expect(Array.from(wf.records[0]!.load().data)).toEqual([1, 0.0999755859375, -65504, 0]);
  });

  it('reads F16, BF16, F64, I64, I16, U8 and BOOL files to f32 / i32', () => {
    const parts: [string, string, number[], Uint8Array][] = [
      ['h', 'F16', [2], new Uint8Array(Uint16Array.from([0x3c00, 0xc000]).buffer)],
      ['b', 'BF16', [2], new Uint8Array(Uint16Array.from([0x3f80, 0x4049]).buffer)],
      ['d', 'F64', [1], new Uint8Array(Float64Array.from([0.1]).buffer)],
      ['l', 'I64', [2], new Uint8Array(BigInt64Array.from([-5n, 2147483647n]).buffer)],
      ['s', 'I16', [1], new Uint8Array(Int16Array.from([-300]).buffer)],
      ['u', 'U8', [2], Uint8Array.from([0, 255])],
      ['t', 'BOOL', [2], Uint8Array.from([1, 0])],
    ];
    let off = 0;
    const header: Record<string, unknown> = {};
    for (const [n, dt, shape, data] of parts) {
      header[n] = { dtype: dt, shape, data_offsets: [off, off + data.length] };
      off += data.length;
    }
    const got = readAll(rawSafetensors(header, concat(parts.map((p) => p[3]))));
    expect(Array.from(got.get('h')!.data)).toEqual([1, -2]);
    expect(Array.from(got.get('b')!.data)).toEqual([1, 3.140625]);
    expect(got.get('d')!.data[0]).toBe(Math.fround(0.1));
    expect(got.get('l')!.dtype).toBe('i32');
    expect(Array.from(got.get('l')!.data)).toEqual([-5, 2147483647]);
    expect(Array.from(got.get('s')!.data)).toEqual([-300]);
    expect(Array.from(got.get('u')!.data)).toEqual([0, 255]);
    expect(Array.from(got.get('t')!.data)).toEqual([1, 0]);
  });

  it('writes files atomically and leaves nothing behind on failure', () => {
    const dir = tempDir();
    const file = path.join(dir, 'w.safetensors');
    writeSafetensors(file, new Map([['x', tensor([2], [1, 2])]]), { k: 'v' });
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    const ws = loadWeights(file);
    expect(ws.format).toBe('safetensors');
    expect(Array.from(ws.tensors.get('x')!.data)).toEqual([1, 2]);
    const e = (() => {
      try {
        writeSafetensors(path.join(dir, 'missing-dir', 'w.safetensors'), new Map([['x', tensor([1], [1])]]));
      } catch (err) {
        return err as DittoError;
      }
    })();
    expect(e?.code).toBe('E_IO');
    expect(e?.message).toMatch(/directory does not exist/);
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
  });
});

describe('safetensors bad input', () => {
  const good = () => serializeSafetensors(new Map([['a', tensor([2], [1, 2])], ['b', tensor([3], [3, 4, 5])]]));

  it('truncated file', () => {
    const bytes = good();
    const dir = tempDir();
    const file = path.join(dir, 'cut.safetensors');
    writeFileSync(file, bytes.subarray(0, bytes.length - 4));
    const e = weightsError(() => loadWeights(file));
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/tensor 'b': data_offsets \[8, 20\] are out of range: the data area holds 16 bytes/);
    writeFileSync(file, bytes.subarray(0, 5));
    expect(weightsError(() => loadWeights(file)).message).toMatch(/5 bytes, too short for a safetensors header/);
  });

  it('header length beyond the file', () => {
    const e = weightsError(() => readAll(rawSafetensors({}, new Uint8Array(0), 1n << 60n)));
    expect(e.message).toMatch(/header length 1152921504606846976 is beyond the file \(only 2 bytes follow/);
  });

  it('header that is not JSON, or not an object', () => {
    const bytes = good();
    bytes[8] = 0x5b; // '[' instead of '{'
    expect(weightsError(() => readAll(bytes)).message).toMatch(/not valid UTF-8 JSON/);
    expect(weightsError(() => readAll(rawSafetensors([1, 2], new Uint8Array(0)))).message).toMatch(/not a JSON object/);
  });

  it('overlapping offsets', () => {
    const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    const e = weightsError(() => readAll(rawSafetensors(header, f32(3))));
    expect(e.message).toMatch(/tensor 'b' \(bytes \[4, 12\)\) overlaps tensor 'a' \(bytes \[0, 8\)\)/);
  });

  it('out-of-range offsets', () => {
    const header = { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } };
    expect(weightsError(() => readAll(rawSafetensors(header, f32(2)))).message).toMatch(/tensor 'a': data_offsets \[0, 16\] are out of range/);
    const huge = { a: { dtype: 'F32', shape: [2], data_offsets: [2 ** 52, 2 ** 52 + 8] } };
    expect(weightsError(() => readAll(rawSafetensors(huge, f32(2)))).message).toMatch(/out of range/);
    const backwards = { a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } };
    expect(weightsError(() => readAll(rawSafetensors(backwards, f32(2)))).message).toMatch(/end before they begin/);
  });

  it('gaps and trailing bytes', () => {
    const gap = { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
    expect(weightsError(() => readAll(rawSafetensors(gap, f32(2)))).message).toMatch(/bytes \[0, 4\) of the data area belong to no tensor/);
    const trailing = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
    expect(weightsError(() => readAll(rawSafetensors(trailing, f32(2)))).message).toMatch(/4 bytes after the last tensor/);
  });

  it('unknown dtype', () => {
    const header = { a: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } };
    const e = weightsError(() => readAll(rawSafetensors(header, new Uint8Array(4))));
    expect(e.message).toMatch(/tensor 'a': unknown dtype 'F8_E4M3' \(ditto reads F64, F32, F16, BF16/);
  });

  it('shape × dtype size mismatch, including absurd shapes', () => {
    const header = { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } };
    expect(weightsError(() => readAll(rawSafetensors(header, f32(2)))).message).toMatch(/shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] give 8/);
    const absurd = { a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40, 2 ** 40], data_offsets: [0, 8] } };
    expect(weightsError(() => readAll(rawSafetensors(absurd, f32(2)))).message).toMatch(/needs more than 8 bytes/);
    const badShape = { a: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } };
    expect(weightsError(() => readAll(rawSafetensors(badShape, f32(2)))).message).toMatch(/shape must be an array of non-negative integers/);
  });

  it('int64 values that do not fit in int32', () => {
    const header = { l: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } };
    const e = weightsError(() => readAll(rawSafetensors(header, new Uint8Array(BigInt64Array.from([1n << 40n]).buffer))));
    expect(e.message).toMatch(/tensor 'l': int64 value 1099511627776 at element 0 does not fit in int32/);
  });

  it('a missing file is E_IO; any byte corruption gives a DittoError, never another exception', () => {
    try {
      openWeights('/nonexistent/w.safetensors');
      throw new Error('no error');
    } catch (e) {
      expect((e as DittoError).code).toBe('E_IO');
    }
    const base = good();
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(base.length), (edits, cut) => {
        const b = base.slice(0, cut);
        for (const [i, v] of edits) if (i < b.length) b[i] = v;
        try {
          readAll(b);
        } catch (e) {
          if (!(e instanceof DittoError) || e.code !== 'E_WEIGHTS') throw e;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('loads a file written by another writer (the PyTorch fixture script)', () => {
    const ws = loadWeights(path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'f32.expected.safetensors'));
    expect(ws.tensors.get('2.weight')!.shape).toEqual([5, 16]);
    expect(existsSync(ws.path)).toBe(true);
    expect(readFileSync(ws.path).length).toBeGreaterThan(0);
  });
});
