#!/usr/bin/env python3
"""Writes the PyTorch fixtures of test/weights: small state dicts saved by torch.save, each with the
values it must load to, as a safetensors file written here by hand (8-byte little-endian header
length, JSON header, raw little-endian data; float tensors as F32, integer tensors as I32).

Run from the repository root:  python3 tools/make_pt_fixtures.py
Needs torch and numpy (Debian: python3-torch). The outputs are committed; the tests do not need torch.
"""
import argparse
import collections
import os
import sys
import zipfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'train'))
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'weights', 'fixtures')


def write_safetensors(path, tensors):
    """tensors: ordered dict name -> torch tensor, written as F32 (floats) or I32 (integers), with
    the uncompact JSON header the committed fixtures have."""
    as_stored = collections.OrderedDict(
        (name, t.detach().float() if t.is_floating_point() else t.detach().to(torch.int32)) for name, t in tensors.items())
    safetensors_io.save(path, as_stored, compact=False)


def flat(d):
    return collections.OrderedDict((k, v) for k, v in d.items())


def save(name, obj, state_dict, **kw):
    torch.save(obj, os.path.join(OUT, name + '.pt'), **kw)
    write_safetensors(os.path.join(OUT, name + '.expected.safetensors'), flat(state_dict))


def sincos_1d(dim, pos):
    # The 1-D sin-cos embedding of docs/ebcache.md "Embeddings", float64: [sin(p*w), cos(p*w)], w_d = 10000^(-d/(dim/2)).
    w = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(pos.reshape(-1).astype(np.float64), w)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def pos_embed_2d(dim, grid):
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing='ij')  # token k = row*grid + col
    return np.concatenate([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], axis=1).astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    # 1. A module's own state dict (an OrderedDict carrying _metadata), float32.
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 2, stride=2), torch.nn.Flatten(), torch.nn.Linear(16, 5))
    save('f32', net.state_dict(), net.state_dict())

    # 2. float16 with special values, pickle protocol 4 (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL).
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035e-05, 5.96e-08, 3.0e-06, float('inf'), float('-inf')],
                           dtype=torch.float16)
    half = {'special': special, 'w': torch.randn(3, 4).half()}
    save('f16', half, half, pickle_protocol=4)

    # 3. bfloat16 under 'ema', next to the other things a training checkpoint holds.
    bf = collections.OrderedDict(a=torch.randn(2, 3).bfloat16(), b=torch.tensor([1e30, -3.0, 1e-30]).bfloat16())
    ckpt = {'model': collections.OrderedDict(a=torch.zeros(2, 3)), 'ema': bf,
            'opt': {'state': {}, 'param_groups': [{'lr': 1e-4, 'betas': (0.9, 0.999)}]},
            'args': argparse.Namespace(model='DiT-XL/2', image_size=256, seed=0)}
    save('bf16_ema', ckpt, bf)

    # 4. Views under 'model': transposed, offset slice, two views of one storage, a Parameter, integers.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = collections.OrderedDict()
    views['transposed'] = base.t()
    views['slice'] = base[1:3, 2:5]
    views['row'] = base[2]
    views['param'] = torch.nn.Parameter(torch.linspace(-1, 1, 5))
    views['long'] = torch.tensor([[0, -7], [2**31 - 1, -2**31]], dtype=torch.int64)
    views['int'] = torch.tensor([3, 1, 4], dtype=torch.int32)
    views['expanded'] = torch.tensor([1.0, 2.0]).expand(3, 2)
    views['scalar'] = torch.tensor(2.5)
    save('views_model', {'model': views}, views)

    # 5. The f32 archive re-zipped with DEFLATE (torch writes STORED; other tools may not).
    src = zipfile.ZipFile(os.path.join(OUT, 'f32.pt'))
    with zipfile.ZipFile(os.path.join(OUT, 'deflated.pt'), 'w', zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename.replace('f32/', 'deflated/'), src.read(info.filename))

    # 6. The f32 archive as ZIP64 (torch writes ZIP64 for checkpoints over 4 GiB): lowering the
    # module's limits makes zipfile emit the ZIP64 end records and extra fields for a small file.
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0
    try:
        with zipfile.ZipFile(os.path.join(OUT, 'zip64.pt'), 'w', zipfile.ZIP_STORED) as z:
            for info in src.infolist():
                z.writestr(info.filename.replace('f32/', 'zip64/'), src.read(info.filename))
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved

    # 7. The 2-D sin-cos position embedding, grid 8, width 64, from numpy float64.
    pe = torch.from_numpy(pos_embed_2d(64, 8)).unsqueeze(0)
    write_safetensors(os.path.join(OUT, 'pos_embed_g8_d64.safetensors'), {'pos_embed': pe})


if __name__ == '__main__':
    main()
