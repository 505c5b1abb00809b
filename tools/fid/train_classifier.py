#!/usr/bin/python3
"""Trains the small Fashion-MNIST classifier whose 128-d penultimate features define ditto's FID
for this domain, and writes:

  models/fid/fmnist-classifier.safetensors   weights (f32), architecture + test accuracy in metadata
  models/fid/fmnist-test-stats.safetensors   mean [128] and covariance [128,128] of the 10k test
                                             images' features (f64, plus f32 residuals, see below)
  test/metrics/fixtures/fmnist-classifier-golden.safetensors
                                             8 test images with torch's features and logits

    OPENBLAS_NUM_THREADS=1 nice -n 10 /usr/bin/python3 tools/fid/train_classifier.py

Architecture (evaluation/metrics/classifier.ts mirrors it exactly):
  x [N,1,28,28] in [-1,1]
  conv1 3x3 pad 1, 1->16, ReLU, maxpool 2  -> [N,16,14,14]
  conv2 3x3 pad 1, 16->32, ReLU, maxpool 2 -> [N,32,7,7]
  flatten (c,h,w order) -> fc1 1568->128, ReLU = features [N,128]
  fc2 128->10 = logits
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tools', 'train'))
from idx import load_idx  # noqa: E402
import safetensors_io  # noqa: E402


def to_unit_range(u8):
    """uint8 pixels [N,28,28] -> float32 [N,1,28,28] in [-1,1], ditto's image convention."""
    return torch.from_numpy(u8.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x):
        f = self.features(x)
        return f, self.fc2(f)


def save_safetensors(path, tensors, metadata=None):
    """safetensors_io.save (numpy float32/float64/int32 arrays here), creating the folder and
    replacing the file only once it is complete."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    safetensors_io.save(tmp, tensors, metadata)
    os.replace(tmp, path)


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    feats, correct = [], 0
    for i in range(0, len(x), batch):
        f, logits = model(x[i:i + batch])
        feats.append(f)
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return torch.cat(feats), correct / len(x)


def split_f64(a):
    """An f64 array as f64 plus the f32 residual a - f32(a): ditto's weight loader turns every float
    into f32 (round to nearest), so the TS side rebuilds the value as f32(a) + residual, exact to
    ~2^-48 relative instead of 2^-24."""
    hi = a.astype(np.float32).astype(np.float64)
    return a, (a - hi).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    xtr = to_unit_range(load_idx('train-images-idx3-ubyte.gz'))
    ytr = torch.from_numpy(load_idx('train-labels-idx1-ubyte.gz').astype(np.int64))
    xte = to_unit_range(load_idx('t10k-images-idx3-ubyte.gz'))
    yte = torch.from_numpy(load_idx('t10k-labels-idx1-ubyte.gz').astype(np.int64))

    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = (len(xtr) + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        total = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * args.batch:(s + 1) * args.batch]
            xb = xtr[idx]
            # Random horizontal flips: garments are left-right symmetric, and it helps generalisation.
            flip = torch.rand(len(xb)) < 0.5
            xb[flip] = xb[flip].flip(-1)
            _, logits = model(xb)
            loss = F.cross_entropy(logits, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        model.eval()
        _, acc = evaluate(model, xte, yte)
        print(f'epoch {epoch + 1}: loss {total / steps_per_epoch:.4f}, test accuracy {acc:.4f}, {time.time() - t0:.0f} s', flush=True)
    train_seconds = time.time() - t0

    model.eval()
    feats, acc = evaluate(model, xte, yte)
    f64 = feats.double().numpy()
    mu = f64.mean(0)
    sigma = np.cov(f64, rowvar=False)  # unbiased (N-1), as pytorch-fid does
    mu, mu_res = split_f64(mu)
    sigma, sigma_res = split_f64(sigma)

    arch = 'conv3x3(1->16)+relu+maxpool2, conv3x3(16->32)+relu+maxpool2, fc(1568->128)+relu=features, fc(128->10)=logits'
    meta = {'architecture': arch, 'input': '[N,1,28,28] float in [-1,1] (pixel/127.5 - 1)',
            'test_accuracy': f'{acc:.4f}', 'epochs': args.epochs, 'seed': args.seed,
            'train_seconds': f'{train_seconds:.0f}', 'torch': torch.__version__}
    weights = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(ROOT, 'models/fid/fmnist-classifier.safetensors'), weights, meta)
    save_safetensors(os.path.join(ROOT, 'models/fid/fmnist-test-stats.safetensors'),
                     {'mu': mu, 'sigma': sigma, 'mu_residual': mu_res, 'sigma_residual': sigma_res},
                     {'images': 'Fashion-MNIST t10k (10000)', 'features': 'fmnist-classifier fc1+relu (128)',
                      'covariance': 'unbiased (N-1), float64', 'test_accuracy': f'{acc:.4f}'})

    # Goldens for the TS forward: 8 test images, one per class where possible, with torch's outputs.
    pick = []
    for c in range(8):
        pick.append(int((yte == c).nonzero()[0]))
    with torch.no_grad():
        gf, gl = model(xte[pick])
    save_safetensors(os.path.join(ROOT, 'test/metrics/fixtures/fmnist-classifier-golden.safetensors'),
                     {'images': xte[pick].numpy(), 'labels': yte[pick].numpy().astype(np.int32),
                      'features': gf.numpy(), 'logits': gl.numpy()},
                     {'indices': json.dumps(pick)})
    print(f'test accuracy {acc:.4f}; trace(sigma) {np.trace(sigma):.4f}; wrote models/fid/ and golden', flush=True)


if __name__ == '__main__':
    main()
