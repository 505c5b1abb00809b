#!/usr/bin/python3
"""Trains ditto's embedded default model: a small class-conditional DiT on Fashion-MNIST
(28×28×1 pixels, patch 4 → 49 tokens, hidden 128, depth 4, 4 heads, MLP ×4, 10 classes + null),
eps prediction, linear betas over 1000 steps, EMA weights. Resumable: run it again and it continues
from the last checkpoint. Never run in CI.

    OPENBLAS_NUM_THREADS=1 nice -n 19 /usr/bin/python3 tools/train/train_fmnist.py --steps 25000

Writes tools/train/checkpoints/last.pt (resume state), tools/train/loss.csv, and on exit
models/weights/fmnist-dit.safetensors (EMA weights, official DiT names) + its card data.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from dit_torch import DiT  # noqa: E402
import safetensors_io  # noqa: E402
from idx import load_idx  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
CONFIG = dict(image=28, channels=1, patch=4, hidden=128, depth=4, heads=4, mlp_ratio=4, classes=10,
              learn_sigma=False)


def drop_log_rows_after(path, step):
    """A run stopped between two checkpoints logged steps the resumed run will log again: keep
    only the rows up to the checkpoint so the loss curve has each step once."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        rows = [r for r in f if r.strip() and int(r.split(',')[0]) <= step]
    with open(path + '.tmp', 'w') as f:
        f.writelines(rows)
    os.replace(path + '.tmp', path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=25000)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--ema', type=float, default=0.999)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--save-every', type=int, default=250)
    ap.add_argument('--export-only', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    ckdir = os.path.join(HERE, 'checkpoints')
    os.makedirs(ckdir, exist_ok=True)
    ck = os.path.join(ckdir, 'last.pt')

    model = DiT(**CONFIG)
    ema = DiT(**CONFIG)
    ema.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0)
    step, elapsed = 0, 0.0
    if os.path.exists(ck):
        state = torch.load(ck)
        model.load_state_dict(state['model'])
        ema.load_state_dict(state['ema'])
        opt.load_state_dict(state['opt'])
        step, elapsed = state['step'], state['elapsed']
        torch.set_rng_state(state['rng'])
        print(f'resumed at step {step} ({elapsed / 60:.1f} min so far)', flush=True)
        drop_log_rows_after(os.path.join(HERE, 'loss.csv'), step)

    if not args.export_only:
        images = torch.from_numpy(load_idx('train-images-idx3-ubyte.gz').copy()).float().div(127.5).sub(1)[:, None]
        labels = torch.from_numpy(load_idx('train-labels-idx1-ubyte.gz').astype(np.int64))
        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        abar = torch.cumprod(1 - betas, 0).float()
        log = open(os.path.join(HERE, 'loss.csv'), 'a')
        t0, running = time.time(), []
        while step < args.steps:
            idx = torch.randint(0, images.shape[0], (args.batch,))
            x0, y = images[idx], labels[idx].clone()
            y[torch.rand(args.batch) < 0.1] = CONFIG['classes']  # class dropout → the null class for CFG
            t = torch.randint(0, 1000, (args.batch,))
            noise = torch.randn_like(x0)
            a = abar[t][:, None, None, None]
            xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
            loss = F.mse_loss(model(xt, t, y), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                decay = min(args.ema, (1 + step) / (10 + step))
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.mul_(decay).add_(pm, alpha=1 - decay)
            step += 1
            running.append(loss.item())
            if step % 50 == 0:
                now = time.time()
                elapsed += now - t0
                t0 = now
                log.write(f'{step},{np.mean(running):.5f},{elapsed:.0f}\n')
                log.flush()
                running = []
            if step % args.save_every == 0 or step == args.steps:
                torch.save({'model': model.state_dict(), 'ema': ema.state_dict(), 'opt': opt.state_dict(),
                            'step': step, 'elapsed': elapsed, 'rng': torch.get_rng_state()}, ck + '.tmp')
                os.replace(ck + '.tmp', ck)
                print(f'step {step} loss {np.mean(np.loadtxt(os.path.join(HERE, "loss.csv"), delimiter=",", ndmin=2)[-5:, 1]):.4f} '
                      f'{elapsed / 60:.1f} min', flush=True)
    out = os.path.join(ROOT, 'models', 'weights')
    os.makedirs(out, exist_ok=True)
    sd = {k: v for k, v in ema.state_dict().items()}
    safetensors_io.save(os.path.join(out, 'fmnist-dit.safetensors'), sd,
                        {'config': CONFIG, 'steps': step, 'seed': args.seed, 'train_seconds': round(elapsed)})
    print(f'exported EMA weights at step {step} to models/weights/fmnist-dit.safetensors', flush=True)


if __name__ == '__main__':
    main()
