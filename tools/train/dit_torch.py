"""A DiT in plain torch operators with the official DiT parameter names (facebookresearch/DiT state
dict layout), so ditto's model file and weight loader serve the trained weights unchanged.
Written for ditto; architecture facts from the DiT paper and docs/ebcache.md."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim=256, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def sincos_1d(dim, pos):
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.einsum('m,d->md', pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def pos_embed_2d(dim, grid):
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing='ij')
    # First half of the channels encodes the column, second half the row (DiT's layout).
    emb = np.concatenate([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], axis=1)
    return torch.from_numpy(emb.astype(np.float32))[None]


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
        out = att.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.attn = Attention(d, heads)
        self.mlp = Mlp(d, d * mlp_ratio)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, c):
        sa, ca, ga, sm, cm, gm = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + ga[:, None] * self.attn(modulate(F.layer_norm(x, x.shape[-1:], eps=1e-6), sa, ca))
        x = x + gm[:, None] * self.mlp(modulate(F.layer_norm(x, x.shape[-1:], eps=1e-6), sm, cm))
        return x


class Embedder(nn.Module):
    pass


class DiT(nn.Module):
    def __init__(self, image=28, channels=1, patch=4, hidden=128, depth=4, heads=4, mlp_ratio=4,
                 classes=10, learn_sigma=False, freq=256):
        super().__init__()
        self.patch, self.channels, self.grid = patch, channels, image // patch
        self.out_channels = channels * (2 if learn_sigma else 1)
        self.x_embedder = Embedder()
        self.x_embedder.proj = nn.Conv2d(channels, hidden, patch, stride=patch)
        self.t_embedder = Embedder()
        self.t_embedder.mlp = nn.Sequential(nn.Linear(freq, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.y_embedder = Embedder()
        self.y_embedder.embedding_table = nn.Embedding(classes + 1, hidden)
        self.register_buffer('pos_embed', pos_embed_2d(hidden, self.grid))
        self.blocks = nn.ModuleList([Block(hidden, heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = Embedder()
        self.final_layer.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.final_layer.linear = nn.Linear(hidden, patch * patch * self.out_channels)
        self.freq = freq
        self._init()

    def _init(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for b in self.blocks:  # adaLN-Zero
            nn.init.zeros_(b.adaLN_modulation[-1].weight)
            nn.init.zeros_(b.adaLN_modulation[-1].bias)
        for m in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x, t, y):
        h = self.x_embedder.proj(x).flatten(2).transpose(1, 2) + self.pos_embed
        c = self.t_embedder.mlp(timestep_embedding(t, self.freq)) + self.y_embedder.embedding_table(y)
        for b in self.blocks:
            h = b(h, c)
        shift, scale = self.final_layer.adaLN_modulation(c).chunk(2, dim=1)
        h = self.final_layer.linear(modulate(F.layer_norm(h, h.shape[-1:], eps=1e-6), shift, scale))
        n, p, ch, g = h.shape[0], self.patch, self.out_channels, self.grid
        h = h.reshape(n, g, g, p, p, ch).permute(0, 5, 1, 3, 2, 4)
        return h.reshape(n, ch, g * p, g * p)
