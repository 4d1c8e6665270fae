#!/usr/bin/env python3
"""The study's model ("Autoen-chorder") in PyTorch: the reference for Chorder's Rust trainer.

Same model, data, loss and procedure as `chorder_train::trainer::train_study`:

    sequence AE  x' = (x - mean) / sd per embedding dim (training windows)
                 LSTM D->64 over packed sequences, h at each song's last window
                 -> Linear 64->32, ReLU, Linear 32->20 = code
                 -> Linear 20->32, ReLU, Linear 32->64, ReLU, repeated over T
                 -> LSTM 64->64 (packed) -> Linear 64->D; loss = MSE over valid windows
    feature AE   z = (f - mean) / sd; 207->103->51->20 (ReLU between) and back 20->51->103->207
    regressor    frozen codes [seq 20 | feature 20] -> 40-64-64-48-32-24-12-1, ReLU between,
                 sigmoid out; loss = mean(w * (p - y)^2), w = exp(((y - mean)/(2 sd))^2 / 2)
    init         Linear: Xavier-uniform, bias 0.1; LSTM: PyTorch default U(-1/sqrt(H), 1/sqrt(H))
    training     per stage: Adam(lr 1e-3), batch 200, shuffled every epoch, validation loss
                 after every epoch (chunks of 512 songs), best epoch's weights kept,
                 early stop after `patience` epochs without improvement

Data: the `.npy` files written by Rust (`chorder_train::npy`), e.g. by
`cargo xtask bench train --export DIR` or `--parity`.

Usage:
    /work/torchvenv/bin/pip install -r scripts/requirements-torch-study.txt
    python scripts/torch_study.py time   --data DIR --threads 1 [--epochs 3]
    python scripts/torch_study.py parity --data DIR --threads 2 [--epochs 40] [--seed 0]

Each prints one JSON line (the same keys as the Rust bench `train/benches/epoch.rs`).
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

BATCH = 200
EVAL_CHUNK = 512


def load(data, split):
    emb = np.load(f"{data}/{split}_embeddings.npy")
    lengths = np.load(f"{data}/{split}_lengths.npy").astype(np.int64)
    feats = np.load(f"{data}/{split}_features.npy")
    targets = np.load(f"{data}/{split}_targets.npy")
    return (torch.from_numpy(emb), torch.from_numpy(lengths), torch.from_numpy(feats),
            torch.from_numpy(targets))


def standardize(rows):
    """(mean, 1/sd) per column in float64, sd the population sd; constant columns scale 1."""
    rows = rows.double()
    mean = rows.mean(0)
    var = ((rows - mean) ** 2).mean(0)
    scale = torch.where(var > 1e-24, 1.0 / var.sqrt(), torch.ones_like(var))
    return mean.float(), scale.float()


def mlp(dims, out_act=None):
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i + 2 < len(dims):
            layers.append(nn.ReLU())
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


def init_linear(module, bias=0.1):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.constant_(m.bias, bias)


class SeqAE(nn.Module):
    def __init__(self, d, h=64, lin=32, code=20):
        super().__init__()
        self.register_buffer("shift", torch.zeros(d))
        self.register_buffer("scale", torch.ones(d))
        self.enc_lstm = nn.LSTM(d, h, batch_first=True)
        self.enc_fc = mlp([h, lin, code])
        self.dec_fc = mlp([code, lin, h], nn.ReLU())
        self.dec_lstm = nn.LSTM(h, h, batch_first=True)
        self.dec_out = nn.Linear(h, d)

    def norm(self, x):
        return (x - self.shift) * self.scale

    def encode_norm(self, xn, lengths):
        packed = pack_padded_sequence(xn, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.enc_lstm(packed)
        return self.enc_fc(h[-1])

    def encode(self, x, lengths):
        return self.encode_norm(self.norm(x), lengths)

    def loss(self, x, lengths):
        b, t, d = x.shape
        xn = self.norm(x)
        code = self.encode_norm(xn, lengths)
        rep = self.dec_fc(code).unsqueeze(1).expand(b, t, -1)
        packed = pack_padded_sequence(rep, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.dec_lstm(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=t)
        mask = (torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2).float()
        diff = (self.dec_out(y) - xn) * mask
        return diff.pow(2).sum() / (d * lengths.sum())


class FeatAE(nn.Module):
    def __init__(self, f, hidden=(103, 51), code=20):
        super().__init__()
        self.register_buffer("shift", torch.zeros(f))
        self.register_buffer("scale", torch.ones(f))
        dims = [f, *hidden, code]
        self.enc = mlp(dims)
        self.dec = mlp(dims[::-1])

    def encode(self, x):
        return self.enc((x - self.shift) * self.scale)

    def loss(self, x):
        z = (x - self.shift) * self.scale
        return (self.dec(self.enc(z)) - z).pow(2).mean()


def weighted_loss(mean, sd, alpha=2.0, beta=2.0):
    def f(pred, y):
        w = torch.exp(((y - mean) / (alpha * sd)) ** 2 / beta)
        return (w * (pred - y) ** 2).mean()
    return f


def chunked_mean(n, fn):
    total = 0.0
    for s in range(0, n, EVAL_CHUNK):
        idx = torch.arange(s, min(n, s + EVAL_CHUNK))
        total += float(fn(idx)) * len(idx)
    return total / max(n, 1)


def train_stage(name, params, modules, n_train, batch_loss, validate, epochs, patience, gen,
                verbose=False):
    """Adam over `params`; returns per-epoch seconds. Keeps the best epoch's weights."""
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    best, bad, seconds = math.inf, 0, []
    best_state = [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]
    best_epoch = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        for m in modules:
            m.train()
        order = torch.randperm(n_train, generator=gen)
        for s in range(0, n_train, BATCH):
            idx = order[s:s + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = batch_loss(idx)
            loss.backward()
            opt.step()
        for m in modules:
            m.eval()
        with torch.no_grad():
            val = validate()
        if val < best:
            best, bad, best_epoch = val, 0, epoch
            best_state = [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]
        else:
            bad += 1
        seconds.append(time.perf_counter() - t0)
        if verbose:
            print(f"{name} epoch {epoch}: val {val:.6f} ({seconds[-1]:.2f} s)", flush=True)
        if patience is not None and bad >= patience:
            break
    for m, st in zip(modules, best_state):
        m.load_state_dict(st)
    return {"name": name, "seconds": seconds, "best_epoch": best_epoch, "best": best,
            "epochs": len(seconds)}


def train_study(data, epochs, patience, seed, verbose=False):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tr_e, tr_l, tr_f, tr_y = load(data, "train")
    va_e, va_l, va_f, va_y = load(data, "val")
    n, d, f = tr_e.shape[0], tr_e.shape[2], tr_f.shape[1]
    seq, feat = SeqAE(d), FeatAE(f)
    head = mlp([40, 64, 64, 48, 32, 24, 12, 1], nn.Sigmoid())
    for m in (seq, feat, head):
        init_linear(m)
    # Normalisers from the training split: embeddings over valid windows only.
    valid = torch.arange(tr_e.shape[1]).unsqueeze(0) < tr_l.unsqueeze(1)
    seq.shift, seq.scale = standardize(tr_e[valid])
    feat.shift, feat.scale = standardize(tr_f)

    def batch_seq(e, l, idx):
        t = int(l[idx].max())
        return e[idx, :t], l[idx]

    stages = []
    stages.append(train_stage(
        "seq_autoencoder", list(seq.parameters()), [seq], n,
        lambda idx: seq.loss(*batch_seq(tr_e, tr_l, idx)),
        lambda: chunked_mean(va_e.shape[0], lambda idx: seq.loss(*batch_seq(va_e, va_l, idx))),
        epochs, patience, gen, verbose))
    stages.append(train_stage(
        "feature_autoencoder", list(feat.parameters()), [feat], n,
        lambda idx: feat.loss(tr_f[idx]),
        lambda: float(feat.loss(va_f)),
        epochs, patience, gen, verbose))
    with torch.no_grad():
        def codes(e, l, fe):
            out = []
            for s in range(0, e.shape[0], EVAL_CHUNK):
                idx = torch.arange(s, min(e.shape[0], s + EVAL_CHUNK))
                out.append(torch.cat([seq.encode(*batch_seq(e, l, idx)), feat.encode(fe[idx])], 1))
            return torch.cat(out, 0)
        tr_c, va_c = codes(tr_e, tr_l, tr_f), codes(va_e, va_l, va_f)
    mean = tr_y.double().mean()
    sd = ((tr_y.double() - mean) ** 2).mean().sqrt().clamp_min(1e-6)
    loss = weighted_loss(float(mean), float(sd))
    stages.append(train_stage(
        "regressor", list(head.parameters()), [head], n,
        lambda idx: loss(head(tr_c[idx]).squeeze(1), tr_y[idx]),
        lambda: float(loss(head(va_c).squeeze(1), va_y)),
        epochs, patience, gen, verbose))

    def predict(e, l, fe):
        with torch.no_grad():
            return head(codes(e, l, fe)).squeeze(1)
    return stages, predict


def r2_mae(pred, y):
    p, t = pred.double().numpy() * 100, y.double().numpy() * 100
    ss_res = ((p - t) ** 2).sum()
    ss_tot = ((t - t.mean()) ** 2).sum()
    return 1 - ss_res / ss_tot, float(np.abs(p - t).mean()), float(((p - t) ** 2).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["time", "parity"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    if a.mode == "time":
        stages, _ = train_study(a.data, a.epochs or 3, None, a.seed, a.verbose)
        out = {"impl": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
               "epoch_seconds": {s["name"]: s["seconds"] for s in stages}}
    else:
        t0 = time.perf_counter()
        stages, predict = train_study(a.data, a.epochs or 40, 10, a.seed, a.verbose)
        seconds = time.perf_counter() - t0
        te_e, te_l, te_f, te_y = load(a.data, "test")
        r2, mae, mse = r2_mae(predict(te_e, te_l, te_f), te_y)
        out = {"impl": f"pytorch {torch.__version__}", "seed": a.seed, "test_r2": r2,
               "test_mae": mae, "test_mse": mse, "n_test": int(te_y.shape[0]),
               "seconds": seconds,
               "stages": [{k: s[k] for k in ("name", "epochs", "best_epoch", "best")}
                          for s in stages]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
