#!/usr/bin/env python3
"""MSD musicnn in PyTorch, built from Chorder's bundle, checked against the TF golden fixture,
and timed per 3 s patch (the reference for `cargo bench -p chorder-models --bench musicnn`).

The network is `musicnn==0.1.0` `models.py` `build_musicnn` (see
../shared/study/musicnn-notes.md), written with stock PyTorch layers (Conv2d / Conv1d /
BatchNorm / Linear) in NCHW. Weights come from `models/assets/msd_musicnn.safetensors`, the
bundle written by `cargo xtask import-weights musicnn`: batch norms there are folded into
per-channel `scale`/`shift`, which are loaded into BatchNorm layers as weight/bias with running
mean 0, running variance 1 and eps 0 (exactly the same affine map); the pooled-feature BN(1506)
is folded into the first dense layer, as in the bundle.

As a module (another benchmark imports it):
    from torch_musicnn import load_musicnn
    net = load_musicnn("models/assets/msd_musicnn.safetensors")   # eval mode, float32
    out = net(x)   # x: [B, T, 96] log-mel (musicnn front end), any T >= 1
    out["penultimate"] [B,200], out["tags"] [B,50], out["max_pool"]/["mean_pool"] [B,753]

As a script (from the repository root; requirements in scripts/requirements-torch-musicnn.txt):
    /work/torchvenv/bin/python scripts/torch_musicnn.py [--threads 1] [--all-threads]
checks the output on every patch of fixtures/musicnn/ (penultimate within 1e-4, tags within
1e-5 of TensorFlow, the same limits as the Rust golden test), then prints ms per 187-frame
(3 s) and 60-frame (0.96 s) patch at batch 1 (best and median of several timed runs).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BUNDLE = os.path.join(ROOT, "models", "assets", "msd_musicnn.safetensors")


def _affine_bn(channels, scale, shift, dims):
    """BatchNorm{dims}d computing exactly `scale * x + shift` per channel."""
    bn = (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(channels, eps=0.0)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(scale))
        bn.bias.copy_(torch.from_numpy(shift))
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
    return bn


class Musicnn(nn.Module):
    """musicnn (MSD/MTT, `num_filt_midend=64`, `num_units_backend=200`) at inference.

    forward(x [B, T, 96]) -> dict of penultimate [B,200], max_pool/mean_pool [B,753],
    tags [B,50] (sigmoid).
    """

    def __init__(self, w, n_mels=96):
        super().__init__()
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
        self.n_mels = n_mels
        self.input_bn = _affine_bn(1, w["input_bn.scale"], w["input_bn.shift"], 2)
        # Timbral: [kh*kw, C] (row dt*kw + df) -> Conv2d weight [C, 1, kh, kw].
        self.timbral = nn.ModuleList()
        self.timbral_bn = nn.ModuleList()
        for i, kw in enumerate((38, 67)):
            k = w[f"timbral.{i}.kernel"]
            c = k.shape[1]
            conv = nn.Conv2d(1, c, (7, kw))
            with torch.no_grad():
                conv.weight.copy_(t(k.T.reshape(c, 1, 7, kw)))
                conv.bias.copy_(t(w[f"timbral.{i}.bias"]))
            self.timbral.append(conv)
            self.timbral_bn.append(
                _affine_bn(c, w[f"timbral.{i}.bn.scale"], w[f"timbral.{i}.bn.shift"], 2)
            )
        # Temporal: [k, C] -> Conv2d weight [C, 1, k, 1], TF 'same' padding.
        self.temporal = nn.ModuleList()
        self.temporal_bn = nn.ModuleList()
        self.temporal_len = []
        for i, kl in enumerate((128, 64, 32)):
            k = w[f"temporal.{i}.kernel"]
            c = k.shape[1]
            conv = nn.Conv2d(1, c, (kl, 1))
            with torch.no_grad():
                conv.weight.copy_(t(k.T.reshape(c, 1, kl, 1)))
                conv.bias.copy_(t(w[f"temporal.{i}.bias"]))
            self.temporal.append(conv)
            self.temporal_len.append(kl)
            self.temporal_bn.append(
                _affine_bn(c, w[f"temporal.{i}.bn.scale"], w[f"temporal.{i}.bn.shift"], 2)
            )
        # Mid-end: [7*C_in, 64] (row dt*C_in + ch) -> Conv1d weight [64, C_in, 7], padding 3.
        self.midend = nn.ModuleList()
        self.midend_bn = nn.ModuleList()
        for i in range(3):
            k = w[f"midend.{i}.kernel"]
            c = k.shape[1]
            c_in = k.shape[0] // 7
            conv = nn.Conv1d(c_in, c, 7, padding=3)
            with torch.no_grad():
                conv.weight.copy_(t(k.reshape(7, c_in, c).transpose(2, 1, 0)))
                conv.bias.copy_(t(w[f"midend.{i}.bias"]))
            self.midend.append(conv)
            self.midend_bn.append(
                _affine_bn(c, w[f"midend.{i}.bn.scale"], w[f"midend.{i}.bn.shift"], 1)
            )
        self.dense = nn.Linear(*w["backend.dense.weight"].shape[::-1])
        self.logits = nn.Linear(*w["backend.logits.weight"].shape[::-1])
        with torch.no_grad():
            self.dense.weight.copy_(t(w["backend.dense.weight"]))
            self.dense.bias.copy_(t(w["backend.dense.bias"]))
            self.logits.weight.copy_(t(w["backend.logits.weight"]))
            self.logits.bias.copy_(t(w["backend.logits.bias"]))
        n_units = self.dense.out_features
        self.dense_bn = _affine_bn(
            n_units, w["backend.bn.scale"], w["backend.bn.shift"], 1
        )

    def forward(self, x):
        xn = self.input_bn(x.unsqueeze(1))  # [B, 1, T, 96]
        feats = []
        xp = F.pad(xn, (0, 0, 3, 3))
        for conv, bn in zip(self.timbral, self.timbral_bn):
            y = bn(F.relu(conv(xp)))  # [B, C, T, F']
            feats.append(y.amax(dim=3))  # [B, C, T]
        for kl, conv, bn in zip(self.temporal_len, self.temporal, self.temporal_bn):
            y = bn(F.relu(conv(F.pad(xn, (0, 0, (kl - 1) // 2, kl // 2)))))  # [B, C, T, 96]
            feats.append(y.amax(dim=3))
        fe = torch.cat(feats, dim=1)  # [B, 561, T]
        c1 = self.midend_bn[0](F.relu(self.midend[0](fe)))
        r2 = self.midend_bn[1](F.relu(self.midend[1](c1))) + c1
        r3 = self.midend_bn[2](F.relu(self.midend[2](r2))) + r2
        allf = torch.cat([fe, c1, r2, r3], dim=1)  # [B, 753, T]
        max_pool = allf.amax(dim=2)
        mean_pool = allf.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # [max0, mean0, ...]
        pen = self.dense_bn(F.relu(self.dense(flat)))
        tags = torch.sigmoid(self.logits(pen))
        return {"penultimate": pen, "tags": tags, "max_pool": max_pool, "mean_pool": mean_pool}


def load_musicnn(path=DEFAULT_BUNDLE):
    """The musicnn network of a Chorder bundle, float32, eval mode, gradients off."""
    net = Musicnn(load_file(path)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def check_golden(net, fixtures=os.path.join(ROOT, "fixtures", "musicnn")):
    """Max abs differences to the TF fixture over every patch of both clips."""
    meta = json.load(open(os.path.join(fixtures, "patches.json")))
    worst = {"penultimate": 0.0, "tags": 0.0, "max_pool": 0.0, "mean_pool": 0.0}
    n = 0
    for clip, info in meta["clips"].items():
        lm = np.load(os.path.join(fixtures, f"{clip}_logmel.npy"))
        gold = {
            "penultimate": np.load(os.path.join(fixtures, f"{clip}_penultimate.npy")),
            "tags": np.load(os.path.join(fixtures, f"{clip}_tags.npy")),
            "max_pool": np.load(os.path.join(fixtures, f"{clip}_maxpool.npy")),
            "mean_pool": np.load(os.path.join(fixtures, f"{clip}_meanpool.npy")),
        }
        for k, (s, e) in enumerate(info["patches"]):
            with torch.no_grad():
                out = net(torch.from_numpy(lm[s:e]).unsqueeze(0))
            for key in worst:
                d = np.abs(out[key][0].numpy() - gold[key][k]).max()
                worst[key] = max(worst[key], float(d))
            n += 1
    return n, worst


def time_patch(net, n_frames, runs=7, iters=20):
    """Best and median ms per [1, n_frames, 96] patch over `runs` runs of `iters` calls."""
    x = torch.from_numpy(
        (np.random.default_rng(0).random((1, n_frames, 96)) * 4).astype(np.float32)
    )
    per = []
    with torch.inference_mode():
        for _ in range(5):
            net(x)
        for _ in range(runs):
            t0 = time.perf_counter()
            for _ in range(iters):
                net(x)
            per.append((time.perf_counter() - t0) / iters * 1e3)
    return min(per), statistics.median(per)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default=DEFAULT_BUNDLE)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--all-threads", action="store_true", help="also time with all cores")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = load_musicnn(args.bundle)
    n, worst = check_golden(net)
    ok = worst["penultimate"] <= 1e-4 and worst["tags"] <= 1e-5
    print(
        f"golden ({n} patches vs TensorFlow): penultimate {worst['penultimate']:.2e} "
        f"(<= 1e-4), tags {worst['tags']:.2e} (<= 1e-5), max_pool {worst['max_pool']:.2e}, "
        f"mean_pool {worst['mean_pool']:.2e}: {'ok' if ok else 'FAIL'}"
    )
    print(f"torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    configs = [args.threads] + ([os.cpu_count()] if args.all_threads else [])
    for th in configs:
        torch.set_num_threads(th)
        for n_frames in (187, 60):
            best, med = time_patch(net, n_frames, runs=args.runs)
            print(f"torch musicnn {n_frames} frames, batch 1, {th} thread(s): "
                  f"{best:.2f} ms/patch best, {med:.2f} ms median")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
