"""Minimal safetensors writer/reader (the format: 8-byte little-endian header length, a JSON header,
raw little-endian data). Debian has no safetensors package."""
import json
import struct

import numpy as np
import torch

_DT = {torch.float32: ('F32', np.float32), torch.float16: ('F16', np.float16), torch.int64: ('I64', np.int64),
       torch.int32: ('I32', np.int32)}


def save(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        code, npdt = _DT[t.dtype]
        raw = t.numpy().astype(npdt).tobytes()
        header[name] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    inv = {v[0]: v[1] for v in _DT.values()}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype=inv[info['dtype']]).reshape(info['shape'])
        out[name] = torch.from_numpy(arr.copy())
    return out
