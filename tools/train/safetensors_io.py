"""Minimal safetensors writer/reader (the format: 8-byte little-endian header length, a JSON header,
raw little-endian data). Debian has no safetensors package. The one writer every tool script uses
(training, goldens, FID classifier, PyTorch fixtures)."""
import json
import struct

import numpy as np
import torch

_DT = {torch.float32: ('F32', np.float32), torch.float16: ('F16', np.float16), torch.float64: ('F64', np.float64),
       torch.int64: ('I64', np.int64), torch.int32: ('I32', np.int32)}
_NP_CODE = {np.dtype(npdt): code for code, npdt in _DT.values()}


def _encode(t):
    """(dtype code, raw little-endian bytes) of a torch tensor or a numpy array, in its own dtype."""
    if isinstance(t, np.ndarray):
        a = np.ascontiguousarray(t)
        return _NP_CODE[a.dtype], a.astype(a.dtype.newbyteorder('<')).tobytes()
    t = t.detach().contiguous().cpu()
    code, npdt = _DT[t.dtype]
    return code, t.numpy().astype(npdt).tobytes()


def save(path, tensors, metadata=None, compact=True):
    """tensors: name -> torch tensor or numpy array (F32, F16, F64, I64, I32), written in that order.
    compact=False writes the JSON header with json.dumps' default separators (', ' and ': '), the
    way the committed test/weights fixtures were written."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        code, raw = _encode(t)
        header[name] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':') if compact else None).encode()
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
