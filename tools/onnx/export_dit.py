"""Exports the DiT of tools/train/dit_torch.py (official parameter names) to ONNX, for the
onnxruntime-node peer in bench/peer/ort.ts, and writes a reference input/output pair computed by
torch so the bench can check that ORT computes the same function.

    /usr/bin/python3 tools/onnx/export_dit.py --out bench/work/dit-s2.onnx \
        [--weights W.safetensors | --random-weights bench/work/dit-s2-random.safetensors] \
        [--depth 12 --hidden 384 --heads 6 --patch 2 --latent 32 --channels 4 --classes 1000 --learn-sigma]

Opset 14: with opset 17 torch 1.13 exports the affine-free LayerNorm (F.layer_norm without weight and
bias) as LayerNormalization with a missing scale, which ORT rejects; at 14 it is decomposed.
Inputs: x f32 [N, C, H, W], t f32 [N], y i64 [N]; output f32 [N, outC, H, W]. N is fixed (--batch): a
dynamic batch fails to trace (layer_norm's normalized_shape comes from x.shape).
The reference file (safetensors: x, t, y, out) is written next to the model as <out>.io.safetensors.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'train'))
from dit_torch import DiT, pos_embed_2d  # noqa: E402
from safetensors_io import load, save  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='the .onnx file to write')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--weights', help='a safetensors state dict with the official DiT names')
    src.add_argument('--random-weights', help='initialise every parameter randomly (seeded) and save them here')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--depth', type=int, default=12)
    p.add_argument('--hidden', type=int, default=384)
    p.add_argument('--heads', type=int, default=6)
    p.add_argument('--patch', type=int, default=2)
    p.add_argument('--latent', type=int, default=32)
    p.add_argument('--channels', type=int, default=4)
    p.add_argument('--classes', type=int, default=1000)
    p.add_argument('--mlp-ratio', type=int, default=4)
    p.add_argument('--learn-sigma', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--batch', type=int, default=2, help='batch of the model and its reference input')
    p.add_argument('--opset', type=int, default=14)
    return p.parse_args()


def randomise(model, seed):
    """Every parameter random (DiT's own init zeroes adaLN and the final layer, which would make the
    output identically zero and the ORT check meaningless). Scaled so activations stay O(1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            std = 0.02 if p.dim() == 1 or 'embedding' in name else fan_in ** -0.5
            p.copy_(torch.randn(p.shape, generator=g) * std)


def main():
    a = parse_args()
    torch.manual_seed(a.seed)
    model = DiT(image=a.latent, channels=a.channels, patch=a.patch, hidden=a.hidden, depth=a.depth, heads=a.heads,
                mlp_ratio=a.mlp_ratio, classes=a.classes, learn_sigma=a.learn_sigma)
    if a.weights:
        state = load(a.weights)
        # Official checkpoints carry the fixed pos_embed buffer; our safetensors may not.
        state.setdefault('pos_embed', pos_embed_2d(a.hidden, a.latent // a.patch))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            sys.exit(f'error: {a.weights} does not match the DiT config: missing {missing[:5]}, unexpected {unexpected[:5]}')
    else:
        randomise(model, a.seed)
        os.makedirs(os.path.dirname(os.path.abspath(a.random_weights)), exist_ok=True)
        save(a.random_weights, {k: v for k, v in model.state_dict().items()},
             {'depth': a.depth, 'hidden': a.hidden, 'heads': a.heads, 'patch': a.patch, 'seed': a.seed})
    model.eval()

    g = torch.Generator().manual_seed(a.seed + 1)
    x = torch.randn(a.batch, a.channels, a.latent, a.latent, generator=g)
    t = torch.linspace(999, 0, a.batch).round()
    y = torch.randint(0, a.classes + 1, (a.batch,), generator=g, dtype=torch.int64)
    with torch.no_grad():
        out = model(x, t, y)

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.onnx.export(model, (x, t, y), a.out, opset_version=a.opset, input_names=['x', 't', 'y'],
                      output_names=['out'], do_constant_folding=True)
    save(a.out + '.io.safetensors', {'x': x, 't': t, 'y': y, 'out': out})
    print(f'wrote {a.out} (+ .io.safetensors): output {list(out.shape)}, |out| max {out.abs().max().item():.3g}')


if __name__ == '__main__':
    main()
