#!/usr/bin/python3
"""Golden outputs for CI's smoke check of the embedded default model: a few DDPM steps of the
trained DiT-FMNIST (models/weights/fmnist-dit.safetensors) with CFG, sampled by PyTorch from
supplied noise (DiT's fixed-large variance, as for learn_sigma = False). The test runs ditto's GPU
plan on the same noise and compares. Rerun whenever the weights change:

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/golden/make_fmnist_smoke.py
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tools', 'train'))
sys.path.insert(0, HERE)
from dit_torch import DiT  # noqa: E402
import safetensors_io  # noqa: E402
from make_dit_goldens import diffusion, pred_x0, f32  # noqa: E402

STEPS, CFG_SCALE, SEED = 8, 3.0, 1234
CLASSES = list(range(10))


def main():
    torch.set_num_threads(1)
    model = DiT(image=28, channels=1, patch=4, hidden=128, depth=4, heads=4, mlp_ratio=4, classes=10, learn_sigma=False)
    weights = safetensors_io.load(os.path.join(ROOT, 'models', 'weights', 'fmnist-dit.safetensors'))
    model.load_state_dict(weights)
    model.eval()
    d = diffusion(STEPS)
    # fixed-large variance: β with the first entry replaced by the posterior variance of step 1
    fixed_log = np.log(np.append(d['posterior_variance'][1], d['betas'][1:]))
    rng = np.random.default_rng(SEED)
    b = len(CLASSES)
    x_t = torch.from_numpy(rng.standard_normal((b, 1, 28, 28)).astype(np.float32))
    noise = torch.from_numpy(rng.standard_normal((STEPS, b, 1, 28, 28)).astype(np.float32))
    y = torch.tensor(CLASSES + [10] * b, dtype=torch.int64)
    x = x_t.clone()
    with torch.no_grad():
        for k in range(STEPS):
            i = STEPS - 1 - k
            t = torch.full((2 * b,), float(d['timesteps'][i]))
            out = model(torch.cat([x, x]), t, y)
            c, u = out[:b], out[b:]
            eps = u + CFG_SCALE * (c - u)  # one channel: DiT's "first three channels" is all of it
            x0 = pred_x0(d, i, x, eps)
            mean = f32(d, 'posterior_mean_coef1', i) * x0 + f32(d, 'posterior_mean_coef2', i) * x
            x = mean + float(i != 0) * torch.exp(0.5 * torch.tensor(fixed_log[i]).float()) * noise[k]
    safetensors_io.save(os.path.join(ROOT, 'test', 'golden', 'fmnist_smoke.safetensors'),
                        {'x_T': x_t, 'noise': noise, 'classes': torch.tensor(CLASSES, dtype=torch.int32), 'out': x},
                        {'steps': STEPS, 'cfg_scale': CFG_SCALE, 'seed': SEED})
    print('wrote test/golden/fmnist_smoke.safetensors', float(x.abs().max()))


if __name__ == '__main__':
    main()
