#!/usr/bin/env python3
"""Scaled-down VGGish ("vggish_mini") fixture for the torchvggish `.pth` importer.

The module structure, forward pass and state_dict key names match torchvggish's
`VGG` (vggish.py: `make_layers()` + `embeddings` Sequential, NCHW -> NHWC
transpose before flattening) and its `Postprocessor` (PCA, clamp [-2, 2],
8-bit quantisation). Only the widths are smaller:

    features   conv 8-16-32-32-64-64 (torchvggish: 64-128-256-256-512-512)
    embeddings Linear(64*4*6=1536, 64), ReLU, Linear(64, 64), ReLU,
               Linear(64, 128), ReLU        (torchvggish: 12288->4096->4096->128)

The weights are random (torch.manual_seed(0)), scaled so that activations are O(1).

Usage:
    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install -r scripts/requirements-vggish-mini.txt
    /tmp/torchvenv/bin/python scripts/vggish_mini_fixture.py
"""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn

CONV_CFG = [8, "M", 16, "M", 32, 32, "M", 64, 64, "M"]  # torchvggish / 8
FC = [64 * 4 * 6, 64, 64, 128]
EMBEDDING_SIZE = 128
QUANTIZE_MIN_VAL = -2.0
QUANTIZE_MAX_VAL = 2.0
TIE_MARGIN = 0.002  # in quantisation steps (1 step = 4/255)


def make_layers():  # same code shape as torchvggish.vggish.make_layers
    layers = []
    in_channels = 1
    for v in CONV_CFG:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1),
                       nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.features = features
        self.embeddings = nn.Sequential(
            nn.Linear(FC[0], FC[1]), nn.ReLU(True),
            nn.Linear(FC[1], FC[2]), nn.ReLU(True),
            nn.Linear(FC[2], FC[3]), nn.ReLU(True))

    def forward(self, x):
        x = self.features(x)
        # torchvggish: NCHW -> NHWC before flattening (TF VGGish compatibility)
        x = torch.transpose(x, 1, 3)
        x = torch.transpose(x, 1, 2)
        x = x.contiguous()
        x = x.view(x.size(0), -1)
        return self.embeddings(x)


def postprocess(emb, pca_eigen_vectors, pca_means):
    """torchvggish Postprocessor.postprocess (minus the final squeeze)."""
    pca_applied = torch.mm(pca_eigen_vectors, (emb.T - pca_means)).T
    clipped = torch.clamp(pca_applied, QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL)
    q = torch.round((clipped - QUANTIZE_MIN_VAL)
                    * (255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL)))
    return q, pca_applied


def init_weights(model):
    # Kaiming-normal weights (ReLU gain) and small non-zero biases, so a port
    # that drops the bias or mixes up the layout is caught.
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
            nn.init.uniform_(m.bias, -0.1, 0.1)


def numpy_forward(sd, x):
    """Independent NHWC numpy (float64) forward pass from the state_dict."""
    a = {k: v.double().numpy() for k, v in sd.items()}
    h = x[:, :, :, None].astype(np.float64)  # [B,96,64,1] NHWC
    idx = 0
    for v in CONV_CFG:
        if v == "M":
            B, H, W, C = h.shape
            h = h.reshape(B, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))
            idx += 1
            continue
        w, b = a[f"features.{idx}.weight"], a[f"features.{idx}.bias"]  # OIHW
        hp = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
        win = np.lib.stride_tricks.sliding_window_view(hp, (3, 3), axis=(1, 2))
        # win: [B,H,W,Cin,3,3]; w: [Cout,Cin,3,3]
        h = np.maximum(np.einsum("bhwcij,ocij->bhwo", win, w) + b, 0.0)
        idx += 2
    f = h.reshape(h.shape[0], -1)  # NHWC flatten == torchvggish order
    for i in (0, 2, 4):
        f = np.maximum(f @ a[f"embeddings.{i}.weight"].T + a[f"embeddings.{i}.bias"], 0.0)
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", default="fixtures/vggish_mini")
    ap.add_argument("--input", default="fixtures/logmel/rock_vggish.npy")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    torch.manual_seed(0)
    model = VGG(make_layers())
    init_weights(model)
    model.eval()

    if os.path.exists(args.input):
        x = np.load(args.input)[:2].astype(np.float32)
        src = f"first two patches of {args.input}"
    else:
        x = torch.randn(2, 96, 64, generator=torch.Generator().manual_seed(1)).numpy()
        src = "torch.randn (seed 1)"
    assert x.shape == (2, 96, 64)

    with torch.no_grad():
        emb = model(torch.from_numpy(x)[:, None])  # [2,1,96,64] NCHW
        # PCA params: random orthogonal rows times a per-row whitening scale
        # (the published matrix also folds in whitening, so it is not
        # orthonormal). Seeds are tried in order until the output has a few
        # clipped values and no quantisation near-tie (a value within
        # TIE_MARGIN of .5 before rounding could round differently in another
        # f32 implementation).
        for pca_seed in range(2, 1000):
            g = torch.Generator().manual_seed(pca_seed)
            q, r = torch.linalg.qr(torch.randn(EMBEDDING_SIZE, EMBEDDING_SIZE, generator=g,
                                               dtype=torch.float64))
            q = q * torch.sign(torch.diagonal(r))  # random orthogonal (Haar)
            scale = 1.5 + 1.5 * torch.rand(EMBEDDING_SIZE, 1, generator=g, dtype=torch.float64)
            eig = (scale * q).float()
            means = (emb.mean(0)[:, None]
                     + 0.3 * torch.randn(EMBEDDING_SIZE, 1, generator=g)).float()
            post, pca_applied = postprocess(emb, eig, means)
            u = ((pca_applied.clamp(-2, 2) + 2) * 255 / 4).double()
            inside = pca_applied.abs() < 2
            margin = float((u - torch.floor(u) - 0.5).abs()[inside].min())
            clipped = float((~inside).float().mean())
            if margin >= TIE_MARGIN and 0.02 <= clipped <= 0.3:
                break
        else:
            raise SystemExit("no PCA seed satisfied the constraints")

    sd = model.state_dict()
    ref = numpy_forward(sd, x)
    dev = float(np.abs(ref - emb.numpy()).max())
    # float64 postprocess of the float64 reference embedding
    pca64 = (eig.double().numpy() @ (ref.T - means.double().numpy())).T
    post64 = np.round((np.clip(pca64, -2, 2) + 2) * (255.0 / 4))
    pca_dev = float(np.abs(pca64 - pca_applied.numpy()).max())
    assert np.array_equal(post64, post.numpy()), "f64 reference quantises differently"
    stats = {
        "input_source": src,
        "state_dict": {k: list(v.shape) for k, v in sd.items()},
        "n_params": int(sum(v.numel() for v in sd.values())),
        "embedding_min_max_mean": [float(emb.min()), float(emb.max()), float(emb.mean())],
        "embedding_zero_fraction": float((emb == 0).float().mean()),
        "pca_seed": pca_seed,
        "pca_row_scale_min_max": [float(scale.min()), float(scale.max())],
        "pca_applied_min_max": [float(pca_applied.min()), float(pca_applied.max())],
        "clipped_fraction": clipped,
        "min_distance_to_rounding_tie_steps": margin,
        "postprocessed_min_max": [float(post.min()), float(post.max())],
        "max_abs_torch_vs_numpy_f64_embedding": dev,
        "max_abs_torch_vs_numpy_f64_pca_applied": pca_dev,
        "f64_reference_quantises_identically": True,
        "orthogonality_max_abs(after removing row scale)": float(
            (q @ q.T - torch.eye(128, dtype=torch.float64)).abs().max()),
        "torch": torch.__version__, "numpy": np.__version__,
    }
    print(json.dumps(stats, indent=1))
    assert dev < 1e-4, dev
    assert np.isfinite(emb.numpy()).all()

    torch.save(sd, os.path.join(args.out_dir, "vggish_mini.pth"))
    torch.save({"pca_eigen_vectors": eig.contiguous(), "pca_means": means.contiguous()},
               os.path.join(args.out_dir, "pca_mini.pth"))
    np.save(os.path.join(args.out_dir, "input.npy"), x)
    np.save(os.path.join(args.out_dir, "embedding.npy"), emb.numpy().astype(np.float32))
    np.save(os.path.join(args.out_dir, "postprocessed.npy"), post.numpy().astype(np.float32))
    np.save(os.path.join(args.out_dir, "pca_applied.npy"),
            pca_applied.numpy().astype(np.float32))
    with open(os.path.join(args.out_dir, "summary.json"), "w") as f:
        json.dump(stats, f, indent=1)

    # round trip through torch.load (what a Python user of the files would do)
    sd2 = torch.load(os.path.join(args.out_dir, "vggish_mini.pth"), weights_only=True)
    m2 = VGG(make_layers())
    m2.load_state_dict(sd2)
    m2.eval()
    with torch.no_grad():
        e2 = m2(torch.from_numpy(np.load(os.path.join(args.out_dir, "input.npy")))[:, None])
    assert torch.equal(e2, emb)
    p2 = torch.load(os.path.join(args.out_dir, "pca_mini.pth"), weights_only=True)
    assert torch.equal(postprocess(e2, p2["pca_eigen_vectors"], p2["pca_means"])[0], post)
    print("round trip ok")


if __name__ == "__main__":
    main()
