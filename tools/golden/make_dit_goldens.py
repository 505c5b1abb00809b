#!/usr/bin/env python3
"""Writes the PyTorch golden data that the reference executor tests compare against.

Run once (CI does not need torch):
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/golden/make_dit_goldens.py

It builds a small DiT from plain torch operators (written here from the architecture notes, with
the official parameter names), on seeded random weights, and writes into test/golden/:

  dit_tiny.safetensors   the weights (F16: every value is exactly representable in f16, so the
  dit_tiny.pt            f32 forward is the same from either file; f16 keeps both under 1 MB)
  dit_tiny_io.safetensors inputs and outputs: timestep embedding, position embedding, one block,
                         the full forward, one DDPM and one DDIM step, respaced schedule arrays for
                         S = 50 and 250, and two 10-step CFG sampling runs (plain and cached) with
                         the supplied initial latent and per-step noise.

Scalars (step indices, scales) go into the safetensors `__metadata__`.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)

CFG = dict(depth=2, hidden=64, heads=4, patch=2, latent=8, channels=4, classes=10, mlp_ratio=4, freq=256)
OUT_CH = 2 * CFG["channels"]  # learn_sigma
GRID = CFG["latent"] // CFG["patch"]
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "test", "golden"))


# ---------------------------------------------------------------- safetensors

sys.path.insert(0, os.path.join(HERE, "..", "train"))
from safetensors_io import save as write_safetensors  # noqa: E402


# ---------------------------------------------------------------- weights

def make_weights(seed=20250311):
    g = torch.Generator().manual_seed(seed)
    D, p, C, depth = CFG["hidden"], CFG["patch"], CFG["channels"], CFG["depth"]
    H = CFG["mlp_ratio"] * D
    w = {}

    def rnd(name, shape, std):
        # Round to f16 so the f16 files hold exactly the f32 values the goldens were computed with.
        w[name] = (torch.randn(*shape, generator=g) * std).half().float()

    w["pos_embed"] = torch.from_numpy(pos_embed_2d(D, GRID)).float().unsqueeze(0)
    rnd("x_embedder.proj.weight", (D, C, p, p), 1 / math.sqrt(C * p * p))
    rnd("x_embedder.proj.bias", (D,), 0.1)
    rnd("t_embedder.mlp.0.weight", (D, CFG["freq"]), 1 / math.sqrt(CFG["freq"]))
    rnd("t_embedder.mlp.0.bias", (D,), 0.1)
    rnd("t_embedder.mlp.2.weight", (D, D), 1 / math.sqrt(D))
    rnd("t_embedder.mlp.2.bias", (D,), 0.1)
    rnd("y_embedder.embedding_table.weight", (CFG["classes"] + 1, D), 1.0)
    for i in range(depth):
        b = f"blocks.{i}."
        rnd(b + "attn.qkv.weight", (3 * D, D), 1 / math.sqrt(D))
        rnd(b + "attn.qkv.bias", (3 * D,), 0.1)
        rnd(b + "attn.proj.weight", (D, D), 1 / math.sqrt(D))
        rnd(b + "attn.proj.bias", (D,), 0.1)
        rnd(b + "mlp.fc1.weight", (H, D), 1 / math.sqrt(D))
        rnd(b + "mlp.fc1.bias", (H,), 0.1)
        rnd(b + "mlp.fc2.weight", (D, H), 1 / math.sqrt(H))
        rnd(b + "mlp.fc2.bias", (D,), 0.1)
        # Non-zero adaLN (adaLN-Zero would make every block the identity at init).
        rnd(b + "adaLN_modulation.1.weight", (6 * D, D), 0.3 / math.sqrt(D))
        rnd(b + "adaLN_modulation.1.bias", (6 * D,), 0.2)
    rnd("final_layer.linear.weight", (p * p * OUT_CH, D), 1 / math.sqrt(D))
    rnd("final_layer.linear.bias", (p * p * OUT_CH,), 0.1)
    rnd("final_layer.adaLN_modulation.1.weight", (2 * D, D), 0.3 / math.sqrt(D))
    rnd("final_layer.adaLN_modulation.1.bias", (2 * D,), 0.2)
    return w


# ---------------------------------------------------------------- the model, from torch operators

def timestep_embedding(t, dim=256, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # cos first


def sincos_1d(dim, pos):
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)  # sin first


def pos_embed_2d(dim, grid):
    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32), indexing="ij")
    # token k = row * grid + col; first half of the channels encodes the column, second the row
    return np.concatenate([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], axis=1)


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def layer_norm(x):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6)


def attention_core(qkv, heads):
    n, t, d3 = qkv.shape
    d = d3 // 3
    q, k, v = qkv.reshape(n, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    a = torch.softmax((q @ k.transpose(-2, -1)) * (d // heads) ** -0.5, dim=-1)
    return (a @ v).transpose(1, 2).reshape(n, t, d)


def embed(w, x, t, y):
    p = CFG["patch"]
    h = F.conv2d(x, w["x_embedder.proj.weight"], w["x_embedder.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    h = h + w["pos_embed"]
    tf = timestep_embedding(t, CFG["freq"])
    temb = F.linear(F.silu(F.linear(tf, w["t_embedder.mlp.0.weight"], w["t_embedder.mlp.0.bias"])),
                    w["t_embedder.mlp.2.weight"], w["t_embedder.mlp.2.bias"])
    c = temb + w["y_embedder.embedding_table.weight"][y.long()]
    return h, c, tf, temb


def block_parts(w, i):
    b = f"blocks.{i}."

    def ada(c):
        return F.linear(F.silu(c), w[b + "adaLN_modulation.1.weight"], w[b + "adaLN_modulation.1.bias"]).chunk(6, dim=1)

    def attn(u):
        qkv = F.linear(u, w[b + "attn.qkv.weight"], w[b + "attn.qkv.bias"])
        return F.linear(attention_core(qkv, CFG["heads"]), w[b + "attn.proj.weight"], w[b + "attn.proj.bias"])

    def mlp(u):
        hdn = F.gelu(F.linear(u, w[b + "mlp.fc1.weight"], w[b + "mlp.fc1.bias"]), approximate="tanh")
        return F.linear(hdn, w[b + "mlp.fc2.weight"], w[b + "mlp.fc2.bias"])

    return ada, attn, mlp


def block(w, i, h, c):
    ada, attn_f, mlp_f = block_parts(w, i)
    sa, ca, ga, sm, cm, gm = ada(c)
    a = attn_f(modulate(layer_norm(h), sa, ca))
    h = h + ga.unsqueeze(1) * a
    m = mlp_f(modulate(layer_norm(h), sm, cm))
    h = h + gm.unsqueeze(1) * m
    return h, a, m


def final(w, h, c):
    p, g = CFG["patch"], GRID
    shift, scale = F.linear(F.silu(c), w["final_layer.adaLN_modulation.1.weight"],
                            w["final_layer.adaLN_modulation.1.bias"]).chunk(2, dim=1)  # shift, then scale
    out = F.linear(modulate(layer_norm(h), shift, scale), w["final_layer.linear.weight"], w["final_layer.linear.bias"])
    n = out.shape[0]
    out = out.reshape(n, g, g, p, p, OUT_CH)
    return torch.einsum("nhwpqc->nchpwq", out).reshape(n, OUT_CH, g * p, g * p)


def forward(w, x, t, y):
    h, c, _, _ = embed(w, x, t, y)
    for i in range(CFG["depth"]):
        h, _, _ = block(w, i, h, c)
    return final(w, h, c)


def forward_cached(w, x, t, y, k, acts, cache):
    """One forward under per-branch cache actions: acts[target] = (cond, uncond) with 'compute',
    'reuse' (node targets blocks[i].attn / blocks[i].mlp) or 'reuse_residual' (block targets).
    Stored values are the ungated outputs of the halves that computed."""
    n = x.shape[0]
    halves = [slice(0, n // 2), slice(n // 2, n)]
    h, c, _, _ = embed(w, x, t, y)

    def resolve(target, compute, block_in=None):
        """block_in given: a block target, whose cache holds the residual output - input."""
        a = acts.get(target, ("compute", "compute"))
        value = compute() if "compute" in a else None
        parts = []
        for b, (act, sl) in enumerate(zip(a, halves)):
            if act == "compute":
                stored = value[sl] if block_in is None else value[sl] - block_in[sl]
                cache.setdefault(target, {})[b] = stored.clone()
                parts.append(value[sl])
            else:
                if b not in cache.get(target, {}):
                    raise RuntimeError(f"{target} reused before it was computed")
                stored = cache[target][b]
                parts.append(stored if block_in is None else block_in[sl] + stored)
        return torch.cat(parts, dim=0)

    for i in range(CFG["depth"]):
        ada, attn_f, mlp_f = block_parts(w, i)
        block_in = h

        def run_block(i=i, ada=ada, attn_f=attn_f, mlp_f=mlp_f, block_in=block_in):
            sa, ca, ga, sm, cm, gm = ada(c)
            hh = block_in
            a = resolve(f"blocks[{i}].attn", lambda: attn_f(modulate(layer_norm(hh), sa, ca)))
            hh = hh + ga.unsqueeze(1) * a
            m = resolve(f"blocks[{i}].mlp", lambda: mlp_f(modulate(layer_norm(hh), sm, cm)))
            return hh + gm.unsqueeze(1) * m

        h = resolve(f"blocks[{i}]", run_block, block_in)
    return final(w, h, c)


# ---------------------------------------------------------------- diffusion (float64 arrays, f32 steps)

def space_timesteps(num_timesteps, steps):
    stride = (num_timesteps - 1) / (steps - 1) if steps > 1 else 1
    cur, taken = 0.0, []
    for _ in range(steps):
        taken.append(round(cur))
        cur += stride
    return taken


def diffusion(steps):
    base = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    ac_full = np.cumprod(1.0 - base)
    keep = set(space_timesteps(1000, steps))
    betas, tmap, last = [], [], 1.0
    for i, a in enumerate(ac_full):
        if i in keep:
            betas.append(1 - a / last)
            last = a
            tmap.append(i)
    betas = np.array(betas, dtype=np.float64)
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    ac_prev = np.append(1.0, ac[:-1])
    pv = betas * (1.0 - ac_prev) / (1.0 - ac)
    return dict(
        timesteps=np.array(tmap, dtype=np.float64),
        betas=betas,
        alphas_cumprod=ac,
        alphas_cumprod_prev=ac_prev,
        posterior_variance=pv,
        posterior_log_variance_clipped=np.log(np.append(pv[1], pv[1:])),
        posterior_mean_coef1=betas * np.sqrt(ac_prev) / (1.0 - ac),
        posterior_mean_coef2=(1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac),
        sqrt_recip_alphas_cumprod=np.sqrt(1.0 / ac),
        sqrt_recipm1_alphas_cumprod=np.sqrt(1.0 / ac - 1),
        log_betas=np.log(betas),
    )


def f32(d, name, i):
    return torch.tensor(d[name][i]).float()


def pred_x0(d, i, x, eps):
    return f32(d, "sqrt_recip_alphas_cumprod", i) * x - f32(d, "sqrt_recipm1_alphas_cumprod", i) * eps


def ddpm_step(d, i, x, eps, v, noise):
    min_log, max_log = f32(d, "posterior_log_variance_clipped", i), f32(d, "log_betas", i)
    frac = (v + 1) / 2
    logvar = frac * max_log + (1 - frac) * min_log
    x0 = pred_x0(d, i, x, eps)
    mean = f32(d, "posterior_mean_coef1", i) * x0 + f32(d, "posterior_mean_coef2", i) * x
    return mean + float(i != 0) * torch.exp(0.5 * logvar) * noise


def ddim_step(d, i, x, eps):
    x0 = pred_x0(d, i, x, eps)
    eps2 = (f32(d, "sqrt_recip_alphas_cumprod", i) * x - x0) / f32(d, "sqrt_recipm1_alphas_cumprod", i)
    abp = f32(d, "alphas_cumprod_prev", i)
    return x0 * torch.sqrt(abp) + torch.sqrt(1 - abp) * eps2


def guide(out, scale, eps_scale, b):
    """DiT's CFG: channels 0-2 guided, channel 3 and the variance channels from the cond half."""
    c, u = out[:b, :3], out[b:, :3]
    g = u + scale * (c - u)
    eps = torch.cat([g, out[:b, 3:4]], dim=1) * eps_scale
    return eps, out[:b, 4:]


def sample(w, d, x0, noise, classes, scale, eps_scale, acts_at=None):
    b, steps = x0.shape[0], len(d["betas"])
    x = x0.clone()
    y = torch.tensor(list(classes) + [CFG["classes"]] * b, dtype=torch.int64)
    cache, eps_log = {}, []
    for k in range(steps):
        i = steps - 1 - k
        t = torch.full((2 * b,), float(d["timesteps"][i]))
        xin = torch.cat([x, x], dim=0)
        out = forward(w, xin, t, y) if acts_at is None else forward_cached(w, xin, t, y, k, acts_at(k), cache)
        eps, v = guide(out, scale, eps_scale, b)
        eps_log.append(eps)
        x = ddpm_step(d, i, x, eps, v, noise[k])
    # The latents of a random-weight model grow large (x0 = x/sqrt(alpha_bar) is not a denoised image),
    # so the per-step guided eps, which stays O(1), is the sensitive comparison.
    return x, torch.stack(eps_log)


def cached_acts(k):
    """The schedule of the cached golden run (mirrored by test/reference/golden.test.ts)."""
    acts = {}
    if k in (3, 5, 7):
        for i in range(CFG["depth"]):
            acts[f"blocks[{i}].attn"] = ("reuse", "reuse")
            acts[f"blocks[{i}].mlp"] = ("compute", "reuse")
    if k in (4, 8):
        acts["blocks[1]"] = ("reuse_residual", "reuse_residual")
    if k == 6:
        acts["blocks[0]"] = ("compute", "reuse_residual")
    return acts


# ---------------------------------------------------------------- main

def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    w = make_weights()
    half = {k: v.half() for k, v in w.items() if k != "pos_embed"}
    half["pos_embed"] = w["pos_embed"]  # derived, stays f32 (official checkpoints store it too)
    write_safetensors(os.path.join(OUT_DIR, "dit_tiny.safetensors"), half, {"format": "pt", "config": json.dumps(CFG)})
    torch.save(half, os.path.join(OUT_DIR, "dit_tiny.pt"))

    g = torch.Generator().manual_seed(7)
    io, meta = {}, {}
    D, C, L = CFG["hidden"], CFG["channels"], CFG["latent"]

    with torch.no_grad():
        t = torch.tensor([999.0, 17.0, 0.0, 500.5])
        io["temb.t"] = t
        io["temb.out"] = timestep_embedding(t, CFG["freq"])
        io["pos.g4d64"] = torch.from_numpy(pos_embed_2d(64, 4)).float().unsqueeze(0)
        io["pos.g8d32"] = torch.from_numpy(pos_embed_2d(32, 8)).float().unsqueeze(0)

        x = torch.randn(2, C, L, L, generator=g)
        tt = torch.tensor([999.0, 321.0])
        y = torch.tensor([3, CFG["classes"]], dtype=torch.int32)
        io["fwd.x"], io["fwd.t"], io["fwd.y"] = x, tt, y.float()
        h, c, tf, temb = embed(w, x, tt, y)
        io["fwd.h"], io["fwd.c"], io["fwd.t_emb"] = h, c, temb
        io["block0.in"], io["block0.c"] = h, c
        h0, a0, m0 = block(w, 0, h, c)
        io["block0.attn"], io["block0.mlp"], io["block0.out"] = a0, m0, h0
        io["fwd.out"] = forward(w, x, tt, y)

        for steps in (50, 250):
            d = diffusion(steps)
            for name in ("timesteps", "betas", "alphas_cumprod", "posterior_log_variance_clipped",
                         "posterior_mean_coef1", "posterior_mean_coef2"):
                io[f"resp{steps}.{name}"] = torch.from_numpy(d[name])

        d50 = diffusion(50)
        xs = torch.randn(2, C, L, L, generator=g)
        eps = torch.randn(2, C, L, L, generator=g)
        v = torch.rand(2, C, L, L, generator=g) * 2 - 1
        z = torch.randn(2, C, L, L, generator=g)
        io["step.x"], io["step.eps"], io["step.v"], io["step.noise"] = xs, eps, v, z
        for i in (37, 0):
            io[f"ddpm.i{i}"] = ddpm_step(d50, i, xs, eps, v, z)
            io[f"ddim.i{i}"] = ddim_step(d50, i, xs, eps)

        d10 = diffusion(10)
        x0 = torch.randn(2, C, L, L, generator=g)
        noise = torch.randn(10, 2, C, L, L, generator=g)
        classes = [1, 7]
        scale, eps_scale = 4.0, 1 / 0.965
        io["run.x0"], io["run.noise"], io["run.classes"] = x0, noise, torch.tensor(classes, dtype=torch.float32)
        io["run.out"], io["run.eps"] = sample(w, d10, x0, noise, classes, scale, eps_scale)
        io["run_cached.out"], io["run_cached.eps"] = sample(w, d10, x0, noise, classes, scale, eps_scale, cached_acts)
        meta.update({"run.steps": 10, "run.cfg_scale": scale, "run.eps_scale": repr(eps_scale), "step.steps": 50})

    write_safetensors(os.path.join(OUT_DIR, "dit_tiny_io.safetensors"), io, meta)
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"wrote {len(io)} golden tensors to {OUT_DIR} ({total} bytes in all)", file=sys.stderr)


if __name__ == "__main__":
    main()
