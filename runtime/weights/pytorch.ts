/**
 * PyTorch `.pt` state dicts (the zip format torch.save writes since 1.6), read without Python:
 * `<archive>/data.pkl` is a pickle whose tensors refer, through persistent ids
 * `('storage', torch.FloatStorage, key, location, numel)`, to raw little-endian storages stored as
 * `<archive>/data/<key>`; `_rebuild_tensor_v2(storage, offset, size, stride, …)` makes a view of
 * one. The state dict may sit at the top or under `ema`, `model` or `state_dict` (DiT's train.py
 * checkpoints hold the EMA weights, which sampling uses, under `ema`; it is preferred).
 *
 * Everything the pickle says is checked at open time: each storage record exists and is large
 * enough, each view stays inside its storage. Data are read lazily, one tensor at a time.
 */
import { DittoError } from '../../core/errors.ts';
import { shapeString } from '../../core/tensor.ts';
import type { ByteSource } from './byteSource.ts';
import { DTYPE_BYTES, decodeElements, type FileDType } from './dtypes.ts';
import { PyGlobal, PyObject, unpickle } from './pickle.ts';
import type { TensorRecord, WeightFile } from './types.ts';
import { readZipDirectory, readZipEntry, type ZipEntry } from './zip.ts';

const STORAGE_DTYPES: Record<string, FileDType> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

/** Wrapper keys tried in order when the top-level dict is not itself a state dict. */
export const STATE_DICT_WRAPPERS = ['ema', 'model', 'state_dict'] as const;

interface StorageRef {
  readonly key: string;
  readonly dtype: FileDType;
  readonly numel: number;
  readonly entry: ZipEntry;
}

interface TensorView {
  readonly storage: StorageRef;
  readonly offset: number;
  readonly size: number[];
  readonly stride: number[];
}

function isTensorView(v: unknown): v is TensorView {
  return typeof v === 'object' && v !== null && 'storage' in v && 'stride' in v;
}

export function openPytorch(src: ByteSource): WeightFile {
  const file = src.name;
  const fail = (message: string): never => {
    throw new DittoError('E_WEIGHTS', `${file}: ${message}`);
  };
  const entries = readZipDirectory(src);
  const pkl = entries.find((e) => /^(?:[^/]*\/)?data\.pkl$/.test(e.name));
  if (!pkl) fail(`zip archive has no data.pkl, so it is not a PyTorch checkpoint (entries: ${entries.slice(0, 8).map((e) => e.name).join(', ') || 'none'})`);
  const prefix = pkl!.name.slice(0, -'data.pkl'.length);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const order = byName.get(`${prefix}byteorder`);
  if (order) {
    const text = new TextDecoder().decode(readZipEntry(src, order)).trim();
    if (text !== 'little') fail(`storages are ${text}-endian; ditto reads little-endian checkpoints`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) fail(`unsupported persistent id in data.pkl (expected a ('storage', type, key, location, numel) tuple)`);
    const [, type, keyRaw, , numelRaw] = pid as unknown[];
    const key = String(keyRaw);
    const known = storages.get(key);
    if (known) return known;
    const typeName = type instanceof PyGlobal ? type.name : String(type);
    const dtype = STORAGE_DTYPES[typeName];
    if (!dtype) fail(`storage '${key}' has type ${type}; ditto reads ${Object.keys(STORAGE_DTYPES).join(', ')}`);
    const numel = Number(numelRaw);
    if (!Number.isSafeInteger(numel) || numel < 0) fail(`storage '${key}' has an invalid element count ${String(numelRaw)}`);
    const entry = byName.get(`${prefix}data/${key}`);
    if (!entry) fail(`storage record '${prefix}data/${key}' referenced by data.pkl is missing from the archive`);
    if (entry!.size < numel * DTYPE_BYTES[dtype!]) {
      fail(`storage record '${entry!.name}' holds ${entry!.size} bytes but ${numel} × ${dtype} needs ${numel * DTYPE_BYTES[dtype!]}`);
    }
    const ref: StorageRef = { key, dtype: dtype!, numel, entry: entry! };
    storages.set(key, ref);
    return ref;
  };
  const call = (fn: PyGlobal, args: unknown[]): unknown => {
    switch (fn.toString()) {
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor':
        return rebuildTensor(args, fail);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        return args[0];
      case 'collections.OrderedDict':
      case 'builtins.dict': {
        const m = new Map<unknown, unknown>();
        const init = args[0];
        if (Array.isArray(init)) for (const kv of init) if (Array.isArray(kv) && kv.length === 2) m.set(kv[0], kv[1]);
        return m;
      }
      default:
        return undefined;
    }
  };
  const root = unpickle(readZipEntry(src, pkl!), { persistentLoad, call }, `${file} (data.pkl)`);
  const { dict, wrapper } = findStateDict(root, fail);

  // Storages shared by several views are read once and kept; the rest are read on demand and dropped.
  const refCount = new Map<string, number>();
  for (const v of dict.values()) if (isTensorView(v)) refCount.set(v.storage.key, (refCount.get(v.storage.key) ?? 0) + 1);
  const shared = new Map<string, Uint8Array>();
  const storageBytes = (s: StorageRef): Uint8Array => {
    const cached = shared.get(s.key);
    if (cached) return cached;
    const bytes = readZipEntry(src, s.entry);
    if ((refCount.get(s.key) ?? 0) > 1) shared.set(s.key, bytes);
    return bytes;
  };

  const records: TensorRecord[] = [];
  for (const [k, v] of dict) {
    const name = String(k);
    if (!isTensorView(v)) {
      fail(`state-dict entry '${name}' is not a plain tensor (it is ${describe(v)})`);
    }
    const t = v as TensorView;
    records.push({
      name,
      shape: t.size,
      dtype: t.storage.dtype,
      load: () => materialize(storageBytes(t.storage), t, `${file}: tensor '${name}'`),
    });
  }
  return { format: 'pytorch', path: file, records, metadata: wrapper ? { wrapper } : {}, close: () => src.close() };
}

function rebuildTensor(args: unknown[], fail: (m: string) => never): TensorView {
  const [storage, offset, size, stride] = args;
  if (typeof storage !== 'object' || storage === null || !('entry' in storage)) fail('_rebuild_tensor_v2 without a storage');
  const ints = (v: unknown, what: string): number[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) fail(`tensor ${what} ${String(v)} is not a tuple of non-negative integers`);
    return v as number[];
  };
  const s = storage as StorageRef;
  const sz = ints(size, 'size');
  const st = ints(stride, 'stride');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) fail(`tensor storage offset ${String(offset)} is invalid`);
  if (sz.length !== st.length) fail(`tensor size ${shapeString(sz)} and stride ${shapeString(st)} differ in rank`);
  const empty = sz.includes(0);
  let last = offset as number;
  for (let i = 0; i < sz.length; i++) last += (sz[i]! - 1) * st[i]!;
  if (!empty && last >= s.numel) {
    fail(`a tensor of size ${shapeString(sz)}, stride ${shapeString(st)} at offset ${offset} reads element ${last} of storage '${s.key}', which has ${s.numel}`);
  }
  // Only stride-0 (expanded) views can hold more elements than their storage; a real state dict
  // never needs many more, and a corrupt one must not make ditto allocate terabytes.
  let n = 1;
  for (const d of sz) n *= d;
  if (n > Math.max(16 * s.numel, 1 << 24)) {
    fail(`a tensor of size ${shapeString(sz)} over storage '${s.key}' of ${s.numel} elements is implausibly large`);
  }
  return { storage: s, offset: offset as number, size: sz, stride: st };
}

function findStateDict(root: unknown, fail: (m: string) => never): { dict: Map<unknown, unknown>; wrapper?: string } {
  if (!(root instanceof Map)) fail(`data.pkl holds ${describe(root)}, not a dict of tensors`);
  const m = root as Map<unknown, unknown>;
  const allTensors = [...m.values()].every(isTensorView);
  if (allTensors && m.size > 0) return { dict: m };
  for (const w of STATE_DICT_WRAPPERS) {
    const inner = m.get(w);
    if (inner instanceof Map) return { dict: inner, wrapper: w };
  }
  if (m.size === 0) return { dict: m };
  return fail(`no state dict found: the top-level dict has keys ${[...m.keys()].slice(0, 10).map((k) => `'${String(k)}'`).join(', ')} and none of ${STATE_DICT_WRAPPERS.join(', ')} holds a dict of tensors`);
}

/** The view's elements in row-major order: a slice when contiguous, gathered by strides otherwise. */
function materialize(storage: Uint8Array, t: TensorView, what: string) {
  const eb = DTYPE_BYTES[t.storage.dtype];
  const n = t.size.reduce((a, b) => a * b, 1);
  let contiguous = true;
  let expect = 1;
  for (let i = t.size.length - 1; i >= 0; i--) {
    if (t.size[i] !== 1 && t.stride[i] !== expect) contiguous = false;
    expect *= t.size[i]!;
  }
  const out = new Uint8Array(n * eb);
  if (contiguous) {
    out.set(storage.subarray(t.offset * eb, (t.offset + n) * eb));
  } else {
    const rank = t.size.length;
    const idx = new Array<number>(rank).fill(0);
    let src = t.offset;
    for (let k = 0; k < n; k++) {
      out.set(storage.subarray(src * eb, (src + 1) * eb), k * eb);
      // Odometer increment over the index, moving the storage position by the strides.
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]!++;
        src += t.stride[d]!;
        if (idx[d]! < t.size[d]!) break;
        src -= t.stride[d]! * t.size[d]!;
        idx[d] = 0;
      }
    }
  }
  return decodeElements(out, t.storage.dtype, n, t.size, what);
}

/** A Python-ish description of an unpickled value, for error messages. */
function describe(v: unknown): string {
  if (v instanceof PyObject) return `a ${v.cls}`;
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list or tuple';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Uint8Array) return 'bytes';
  return `a ${typeof v}`;
}
