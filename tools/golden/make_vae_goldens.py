"""Torch goldens for the VAE decoder (models/vae.ditto, variant VAE-Tiny).

Our own torch code of the decoder of diffusers' AutoencoderKL (torch.nn.functional ops, diffusers
parameter names), on a small random configuration: block_out_channels (4, 8, 16, 16), so the
decoder runs 16/16/8/4 channels, GroupNorm(4 groups, eps 1e-6), latent 4x4 -> 32x32 image.
Writes test/golden/vae_tiny.safetensors (the weights) and test/golden/vae_tiny_io.safetensors
(input latent, the mid-block output and the image). Run once; the files are committed:

    OPENBLAS_NUM_THREADS=1 nice -n 10 /usr/bin/python3 tools/golden/make_vae_goldens.py
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'train'))
import safetensors_io  # noqa: E402

CH = 4                 # block_out_channels[0]; blocks are CH * (1, 2, 4, 4)
GROUPS = 4
EPS = 1e-6
LATENT = 4
LATENT_CHANNELS = 4
OUT_CHANNELS = 3
SCALING = 0.18215
BATCH = 2
REVERSED = [4 * CH, 4 * CH, 2 * CH, CH]   # decoder up block channels


def make_weights(gen):
    """Random weights with the diffusers names. GroupNorm weights are 1 + noise, so the norms pass signal."""
    w = {}

    def conv(name, cin, cout, k):
        bound = math.sqrt(6 / (cin * k * k + cout))
        w[name + '.weight'] = (torch.rand(cout, cin, k, k, generator=gen) * 2 - 1) * bound
        w[name + '.bias'] = (torch.rand(cout, generator=gen) * 2 - 1) * 0.1

    def norm(name, c):
        w[name + '.weight'] = 1 + (torch.rand(c, generator=gen) * 2 - 1) * 0.2
        w[name + '.bias'] = (torch.rand(c, generator=gen) * 2 - 1) * 0.1

    def linear(name, cin, cout):
        bound = math.sqrt(6 / (cin + cout))
        w[name + '.weight'] = (torch.rand(cout, cin, generator=gen) * 2 - 1) * bound
        w[name + '.bias'] = (torch.rand(cout, generator=gen) * 2 - 1) * 0.1

    def resnet(prefix, cin, cout):
        norm(prefix + '.norm1', cin)
        conv(prefix + '.conv1', cin, cout, 3)
        norm(prefix + '.norm2', cout)
        conv(prefix + '.conv2', cout, cout, 3)
        if cin != cout:
            conv(prefix + '.conv_shortcut', cin, cout, 1)

    conv('post_quant_conv', LATENT_CHANNELS, LATENT_CHANNELS, 1)
    c0 = REVERSED[0]
    conv('decoder.conv_in', LATENT_CHANNELS, c0, 3)
    resnet('decoder.mid_block.resnets.0', c0, c0)
    a = 'decoder.mid_block.attentions.0'
    norm(a + '.group_norm', c0)
    for n in ('to_q', 'to_k', 'to_v', 'to_out.0'):
        linear(f'{a}.{n}', c0, c0)
    resnet('decoder.mid_block.resnets.1', c0, c0)
    prev = c0
    for i, c in enumerate(REVERSED):
        for j in range(3):
            resnet(f'decoder.up_blocks.{i}.resnets.{j}', prev if j == 0 else c, c)
        if i < 3:
            conv(f'decoder.up_blocks.{i}.upsamplers.0.conv', c, c, 3)
        prev = c
    norm('decoder.conv_norm_out', REVERSED[-1])
    conv('decoder.conv_out', REVERSED[-1], OUT_CHANNELS, 3)
    return w


def group_norm(w, name, x):
    return F.group_norm(x, GROUPS, w[name + '.weight'], w[name + '.bias'], EPS)


def conv(w, name, x):
    k = w[name + '.weight'].shape[-1]
    return F.conv2d(x, w[name + '.weight'], w[name + '.bias'], padding=(k - 1) // 2)


def resnet(w, prefix, x):
    h = conv(w, prefix + '.conv1', F.silu(group_norm(w, prefix + '.norm1', x)))
    h = conv(w, prefix + '.conv2', F.silu(group_norm(w, prefix + '.norm2', h)))
    if prefix + '.conv_shortcut.weight' in w:
        x = conv(w, prefix + '.conv_shortcut', x)
    return x + h


def attention(w, prefix, x):
    """Single-head self-attention over the pixels with a residual (diffusers' Attention with
    residual_connection=True, heads = 1, dim_head = channels)."""
    b, c, hh, ww = x.shape
    t = group_norm(w, prefix + '.group_norm', x).reshape(b, c, hh * ww).transpose(1, 2)
    q = F.linear(t, w[prefix + '.to_q.weight'], w[prefix + '.to_q.bias'])
    k = F.linear(t, w[prefix + '.to_k.weight'], w[prefix + '.to_k.bias'])
    v = F.linear(t, w[prefix + '.to_v.weight'], w[prefix + '.to_v.bias'])
    p = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
    o = F.linear(p @ v, w[prefix + '.to_out.0.weight'], w[prefix + '.to_out.0.bias'])
    return x + o.transpose(1, 2).reshape(b, c, hh, ww)


def decode(w, z):
    """Returns (image, mid-block output)."""
    x = conv(w, 'post_quant_conv', z / SCALING)
    h = conv(w, 'decoder.conv_in', x)
    h = resnet(w, 'decoder.mid_block.resnets.0', h)
    h = attention(w, 'decoder.mid_block.attentions.0', h)
    h = resnet(w, 'decoder.mid_block.resnets.1', h)
    mid = h
    for i in range(4):
        for j in range(3):
            h = resnet(w, f'decoder.up_blocks.{i}.resnets.{j}', h)
        if i < 3:
            h = conv(w, f'decoder.up_blocks.{i}.upsamplers.0.conv', F.interpolate(h, scale_factor=2.0, mode='nearest'))
    h = conv(w, 'decoder.conv_out', F.silu(group_norm(w, 'decoder.conv_norm_out', h)))
    return h, mid


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20240610)
    w = make_weights(gen)
    z = torch.randn(BATCH, LATENT_CHANNELS, LATENT, LATENT, generator=gen) * SCALING
    with torch.no_grad():
        image, mid = decode(w, z)
    out = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'golden')
    meta = {'model': 'VAE-Tiny', 'ch': CH, 'groups': GROUPS, 'latent': LATENT, 'torch': torch.__version__}
    safetensors_io.save(os.path.join(out, 'vae_tiny.safetensors'), w, meta)
    safetensors_io.save(os.path.join(out, 'vae_tiny_io.safetensors'), {'z': z, 'mid': mid, 'image': image}, meta)
    print('params', sum(t.numel() for t in w.values()), 'image', tuple(image.shape),
          'image std', float(image.std()), 'mid std', float(mid.std()))


if __name__ == '__main__':
    main()
