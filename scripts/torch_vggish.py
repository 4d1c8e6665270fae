#!/usr/bin/env python3
"""VGGish in PyTorch (torchvggish's `VGG`: same layers, same NHWC flatten), timed per 0.96 s
patch at batch 1: the reference for `cargo bench -p chorder-models --bench vggish`.

By default the network is full size (convs 64-128-256-256-512-512, fc 12288-4096-4096-128) with
random weights (timing does not depend on the values; the published weights cannot be fetched
here). With --bundle it loads a Chorder VGGish bundle written by `cargo xtask import-weights
vggish` instead (the bundle keeps torchvggish's tensor names and layouts, and its config says
the sizes), and with --check-mini it also checks the outputs of a bundle imported from
fixtures/vggish_mini against the fixture's PyTorch outputs.

Usage (from the repository root; requirements: scripts/requirements-torch-musicnn.txt, i.e.
torch 2.15.0, numpy, safetensors):
    /work/torchvenv/bin/python scripts/torch_vggish.py [--threads 1] [--bundle B.safetensors]
prints ms per patch (best and median of several timed runs) for the whole network, the conv
stack and the fully connected layers.
"""

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STANDARD = {
    "n_frames": 96,
    "n_mels": 64,
    "conv_blocks": [[64], [128], [256, 256], [512, 512]],
    "fc": [4096, 4096],
    "embedding_size": 128,
}


class VGG(nn.Module):
    """torchvggish `VGG` (make_layers + embeddings), sizes from a Chorder config."""

    def __init__(self, cfg):
        super().__init__()
        layers, c_in = [], 1
        for block in cfg["conv_blocks"]:
            for c in block:
                layers += [nn.Conv2d(c_in, c, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c_in = c
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        p = len(cfg["conv_blocks"])
        dims = [c_in * (cfg["n_frames"] >> p) * (cfg["n_mels"] >> p)] + cfg["fc"] + [
            cfg["embedding_size"]]
        fcs = []
        for i, o in zip(dims[:-1], dims[1:]):
            fcs += [nn.Linear(i, o), nn.ReLU(True)]
        self.embeddings = nn.Sequential(*fcs)

    def conv(self, x):
        x = self.features(x)
        x = torch.transpose(x, 1, 3)
        x = torch.transpose(x, 1, 2)
        return x.contiguous().view(x.size(0), -1)

    def forward(self, x):
        return self.embeddings(self.conv(x))


def load_bundle(path):
    """(model, config, tensors) from a Chorder VGGish bundle."""
    from safetensors import safe_open
    from safetensors.numpy import load_file
    with safe_open(path, framework="numpy") as f:
        meta = json.loads(f.metadata()["chorder"])
    assert meta["model_kind"] == "vggish", meta["model_kind"]
    cfg = meta["model_config"]
    tensors = load_file(path)
    model = VGG(cfg)
    sd = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("pca.")}
    model.load_state_dict(sd, strict=True)
    return model.eval(), cfg, tensors


def postprocess(emb, tensors):
    m, mu = tensors["pca.eigen_vectors"], tensors["pca.means"]
    pca = (m @ (emb.T - mu[:, None])).T
    return np.round((np.clip(pca, -2.0, 2.0) + 2.0) * (255.0 / 4.0))


def timeit(fn, reps, rounds):
    for _ in range(3):
        fn()
    per = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        per.append((time.perf_counter() - t0) / reps * 1e3)
    return min(per), statistics.median(per)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bundle", help="Chorder VGGish bundle (default: random full size)")
    ap.add_argument("--check-mini", action="store_true",
                    help="compare the --bundle (imported from fixtures/vggish_mini) with the "
                         "fixture's outputs")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    if args.bundle:
        model, cfg, tensors = load_bundle(args.bundle)
    else:
        cfg, tensors = STANDARD, None
        model = VGG(cfg).eval()

    if args.check_mini:
        d = os.path.join(ROOT, "fixtures", "vggish_mini")
        x = np.load(os.path.join(d, "input.npy"))
        with torch.no_grad():
            emb = model(torch.from_numpy(x)[:, None]).numpy()
        err = np.abs(emb - np.load(os.path.join(d, "embedding.npy"))).max()
        q = postprocess(emb.astype(np.float64), tensors)
        same = np.array_equal(q, np.load(os.path.join(d, "postprocessed.npy")))
        print(f"mini check: embedding max abs err {err:.2e}, postprocessed identical: {same}")
        assert err < 1e-4 and same

    x = torch.from_numpy(
        (np.random.default_rng(0).random((1, 1, cfg["n_frames"], cfg["n_mels"])) * 6.6 - 4.6)
        .astype(np.float32))
    with torch.inference_mode():
        feats = model.conv(x)
        parts = [
            ("patch (whole network)", lambda: model(x)),
            ("conv stack", lambda: model.conv(x)),
            ("fc layers", lambda: model.embeddings(feats)),
        ]
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch 1, "
              f"convs {cfg['conv_blocks']}, fc {cfg['fc']} -> {cfg['embedding_size']}")
        for name, fn in parts:
            best, med = timeit(fn, args.reps, args.rounds)
            print(f"{name}: best {best:.2f} ms, median {med:.2f} ms")


if __name__ == "__main__":
    main()
