import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import { bufferSource } from '../../runtime/weights/byteSource.ts';
import { loadWeights, openWeights } from '../../runtime/weights/index.ts';
import { openPytorch } from '../../runtime/weights/pytorch.ts';
import { readZipDirectory, readZipEntry } from '../../runtime/weights/zip.ts';
import { fixture, storedZip, tempDir } from './helpers.ts';

function expectSameTensors(got: Map<string, Tensor>, want: Map<string, Tensor>): void {
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    expect(g.shape, k).toEqual(w.shape);
    expect(g.dtype, k).toBe(w.dtype);
    // Exact, element by element (Object.is keeps -0 apart from +0).
    const diff = Array.from(g.data).findIndex((v, i) => !Object.is(v, w.data[i]));
    expect(diff, `${k}: first differing element`).toBe(-1);
  }
}

function pytorchError(bytes: Uint8Array, name = 'mem.pt'): DittoError {
  try {
    const wf = openPytorch(bufferSource(bytes, name));
    for (const r of wf.records) r.load();
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    expect((e as DittoError).code).toBe('E_WEIGHTS');
    return e as DittoError;
  }
  throw new Error('expected a DittoError(E_WEIGHTS)');
}

/** The entries of a fixture archive, to rebuild it with changes. */
function entriesOf(name: string): { name: string; data: Uint8Array }[] {
  const src = bufferSource(new Uint8Array(readFileSync(fixture(name))), name);
  return readZipDirectory(src).map((e) => ({ name: e.name, data: readZipEntry(src, e) }));
}

describe('PyTorch .pt files written by torch.save', () => {
  for (const [pt, wrapper] of [
    ['f32', undefined],
    ['f16', undefined],
    ['bf16_ema', 'ema'],
    ['views_model', 'model'],
    ['deflated', undefined],
    ['zip64', undefined],
  ] as const) {
    it(`${pt}.pt loads to exactly the values torch holds`, () => {
      // The f16 fixture holds ±Inf on purpose (decoding of special values): allow non-finite here.
      const ws = loadWeights(fixture(`${pt}.pt`), 'weights', { allowNonFinite: true });
      expect(ws.format).toBe('pytorch');
      const expected = loadWeights(fixture(`${pt === 'deflated' || pt === 'zip64' ? 'f32' : pt}.expected.safetensors`), 'weights', { allowNonFinite: true });
      expectSameTensors(ws.tensors, expected.tensors);
      const wf = openWeights(fixture(`${pt}.pt`));
      expect(wf.metadata.wrapper).toBe(wrapper);
      wf.close();
    });
  }

  it('reports storage dtypes and shapes without reading data', () => {
    const wf = openWeights(fixture('views_model.pt'));
    const byName = Object.fromEntries(wf.records.map((r) => [r.name, [r.dtype, r.shape]]));
    expect(byName.transposed).toEqual(['F32', [6, 4]]);
    expect(byName.long).toEqual(['I64', [2, 2]]);
    expect(byName.scalar).toEqual(['F32', []]);
    wf.close();
    const half = openWeights(fixture('f16.pt'));
    expect(half.records.map((r) => r.dtype)).toEqual(['F16', 'F16']);
    half.close();
    const bf = openWeights(fixture('bf16_ema.pt'));
    expect(bf.records.map((r) => r.dtype)).toEqual(['BF16', 'BF16']);
    bf.close();
  });

  it('gathers non-contiguous and offset views (transpose, slice, row, stride-0 expand)', () => {
    const t = loadWeights(fixture('views_model.pt')).tensors;
    const base = (r: number, c: number) => r * 6 + c;
    expect(Array.from(t.get('transposed')!.data.slice(0, 5))).toEqual([base(0, 0), base(1, 0), base(2, 0), base(3, 0), base(0, 1)]);
    expect(Array.from(t.get('slice')!.data)).toEqual([8, 9, 10, 14, 15, 16]);
    expect(Array.from(t.get('row')!.data)).toEqual([12, 13, 14, 15, 16, 17]);
    expect(Array.from(t.get('expanded')!.data)).toEqual([1, 2, 1, 2, 1, 2]);
  });
});

describe('PyTorch .pt bad input', () => {
  it('not a zip', () => {
    const e = pytorchError(new TextEncoder().encode('this is plainly not a zip archive at all'));
    expect(e.message).toBe('mem.pt: not a zip file (no end-of-central-directory record)');
  });

  it('a zip without data.pkl', () => {
    const e = pytorchError(storedZip([{ name: 'archive/readme.txt', data: new TextEncoder().encode('hello') }]));
    expect(e.message).toMatch(/zip archive has no data.pkl, so it is not a PyTorch checkpoint \(entries: archive\/readme.txt\)/);
  });

  it('a missing storage record', () => {
    const entries = entriesOf('f32.pt').filter((e) => e.name !== 'f32/data/1');
    expect(pytorchError(storedZip(entries)).message).toMatch(/storage record 'f32\/data\/1' referenced by data.pkl is missing from the archive/);
  });

  it('a storage record too small for its element count', () => {
    const entries = entriesOf('f32.pt').map((e) => (e.name === 'f32/data/0' ? { ...e, data: e.data.subarray(0, 4) } : e));
    expect(pytorchError(storedZip(entries)).message).toMatch(/storage record 'f32\/data\/0' holds 4 bytes but \d+ × F32 needs \d+/);
  });

  it('an unsupported pickle opcode, by name', () => {
    // PROTO 2, MARK, INST 'x\ny\n' …: INST is a protocol-0 opcode state dicts never use.
    const pkl = Uint8Array.from([0x80, 0x02, 0x28, 0x69, ...new TextEncoder().encode('x\ny\n'), 0x2e]);
    const e = pytorchError(storedZip([{ name: 'a/data.pkl', data: pkl }]));
    expect(e.message).toBe('mem.pt (data.pkl): unsupported pickle opcode INST (0x69) at byte 3');
  });

  it('a truncated pickle and a pickle that is not a dict', () => {
    const cut = entriesOf('f32.pt').map((e) => (e.name === 'f32/data.pkl' ? { ...e, data: e.data.subarray(0, 60) } : e));
    expect(pytorchError(storedZip(cut)).message).toMatch(/pickle truncated at byte/);
    const list = Uint8Array.from([0x80, 0x02, 0x5d, 0x2e]);
    expect(pytorchError(storedZip([{ name: 'a/data.pkl', data: list }])).message).toMatch(/data.pkl holds a list or tuple, not a dict of tensors/);
  });

  it('a view reaching outside its storage, and an absurdly large expanded view', () => {
    const enc = new TextEncoder();
    const str = (t: string) => [0x8c, t.length, ...enc.encode(t)];
    const int4 = (v: number) => [0x4a, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
    // {'w': _rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', 4), 0, size, stride, False, None)}
    const pkl = (size: number[], stride: number[]) => Uint8Array.from([
      0x80, 0x02, 0x7d, ...str('w'),
      0x63, ...enc.encode('torch._utils\n_rebuild_tensor_v2\n'),
      0x28, 0x28, ...str('storage'), 0x63, ...enc.encode('torch\nFloatStorage\n'), ...str('0'), ...str('cpu'), 0x4b, 4, 0x74, 0x51,
      0x4b, 0, 0x28, ...size.flatMap(int4), 0x74, 0x28, ...stride.flatMap(int4), 0x74, 0x89, 0x4e, 0x74, 0x52,
      0x73, 0x2e,
    ]);
    const zip = (p: Uint8Array) => storedZip([{ name: 'a/data.pkl', data: p }, { name: 'a/data/0', data: new Uint8Array(16) }]);
    const ok = openPytorch(bufferSource(zip(pkl([2, 2], [2, 1])), 'mem.pt'));
    expect(Array.from(ok.records[0]!.load().data)).toEqual([0, 0, 0, 0]);
    expect(pytorchError(zip(pkl([2, 3], [3, 1]))).message).toMatch(/a tensor of size \[2, 3\], stride \[3, 1\] at offset 0 reads element 5 of storage '0', which has 4/);
    expect(pytorchError(zip(pkl([1 << 30, 1 << 30], [0, 0]))).message).toMatch(/implausibly large/);
  });

  it('a checkpoint whose tensors are in no known wrapper', () => {
    // {'weights': {}} — PROTO 2, EMPTY_DICT, SHORT_BINUNICODE 'weights', EMPTY_DICT, SETITEM, STOP.
    const pkl = Uint8Array.from([0x80, 0x02, 0x7d, 0x8c, 7, ...new TextEncoder().encode('weights'), 0x7d, 0x73, 0x2e]);
    expect(pytorchError(storedZip([{ name: 'a/data.pkl', data: pkl }])).message).toMatch(/no state dict found: the top-level dict has keys 'weights'/);
  });

  it('a truncated .pt file on disk', () => {
    const bytes = readFileSync(fixture('f32.pt'));
    const file = path.join(tempDir(), 'cut.pt');
    writeFileSync(file, bytes.subarray(0, bytes.length - 30));
    try {
      loadWeights(file);
      throw new Error('no error');
    } catch (e) {
      expect((e as DittoError).code).toBe('E_WEIGHTS');
      expect((e as DittoError).message).toContain(file);
    }
  });

  it('any corruption of a real .pt gives a DittoError, never another exception or an out-of-bounds read', () => {
    const base = new Uint8Array(readFileSync(fixture('views_model.pt')));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
        const b = base.slice();
        for (const [i, v] of edits) b[i] = v;
        try {
          const wf = openPytorch(bufferSource(b, 'fuzz.pt'));
          for (const r of wf.records) r.load();
        } catch (e) {
          if (!(e instanceof DittoError) || e.code !== 'E_WEIGHTS') throw e;
        }
      }),
      { numRuns: 400 },
    );
  });

  it('the legacy (non-zip) torch format is named', () => {
    const file = path.join(tempDir(), 'legacy.pt');
    writeFileSync(file, Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
    expect(() => loadWeights(file)).toThrow(/legacy \(pre-1.6, non-zip\) format/);
  });
});
