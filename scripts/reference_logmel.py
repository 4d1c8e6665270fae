#!/usr/bin/env python3
"""Independent reference log-mel front ends for Chorder's tests.

Run from the repository root:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install -r scripts/requirements-reference.txt
    /tmp/refvenv/bin/python scripts/reference_logmel.py

Reads  fixtures/audio/{rock,piano}.wav
Writes fixtures/logmel/*.npy, analytic.json (see fixtures/logmel/README.md).

* VGGish: the published algorithm of tensorflow/models research/audioset/vggish
  (mel_features.py + vggish_input.py) re-implemented here in float64 numpy from
  its description (no code copied, no TensorFlow needed).
* musicnn: librosa's melspectrogram with musicnn's parameters, float16
  rounding, then log10(10000*x + 1) evaluated in float32 as numpy 1.x did.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import librosa
import numpy as np
import scipy
import scipy.signal
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT / "fixtures" / "audio"
OUT = ROOT / "fixtures" / "logmel"

SR = 16000

# ----------------------------------------------------------------------------
# VGGish (float64)
# ----------------------------------------------------------------------------
VGG_WIN = 400          # 25 ms
VGG_HOP = 160          # 10 ms
VGG_NFFT = 512         # next power of two >= 400
VGG_MELS = 64
VGG_FMIN = 125.0
VGG_FMAX = 7500.0
VGG_LOG_OFFSET = 0.01
VGG_PATCH = 96         # 0.96 s of 10 ms frames
VGG_PATCH_HOP = 96


def htk_mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def htk_hz(mel):
    return 700.0 * (np.exp(np.asarray(mel, dtype=np.float64) / 1127.0) - 1.0)


def frames_no_pad(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """[num_frames, win] with num_frames = 1 + (len - win) // hop, no padding."""
    n = 1 + (len(x) - win) // hop
    if n <= 0:
        return np.zeros((0, win) + x.shape[1:], dtype=x.dtype)
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def vggish_mel_matrix() -> tuple[np.ndarray, np.ndarray]:
    """[257, 64] weights and band centre frequencies (Hz)."""
    nbins = VGG_NFFT // 2 + 1
    bin_hz = np.linspace(0.0, SR / 2, nbins)
    bin_mel = htk_mel(bin_hz)
    edges = np.linspace(htk_mel(VGG_FMIN), htk_mel(VGG_FMAX), VGG_MELS + 2)
    w = np.empty((nbins, VGG_MELS), dtype=np.float64)
    for i in range(VGG_MELS):
        lo, c, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = (bin_mel - lo) / (c - lo)
        falling = (hi - bin_mel) / (hi - c)
        w[:, i] = np.maximum(0.0, np.minimum(rising, falling))
    w[0, :] = 0.0  # DC bin contributes nothing
    return w, htk_hz(edges[1:-1])


def vggish_triangle_at(hz: float) -> np.ndarray:
    """Weight of each VGGish triangle evaluated at an arbitrary frequency."""
    m = htk_mel(hz)
    edges = np.linspace(htk_mel(VGG_FMIN), htk_mel(VGG_FMAX), VGG_MELS + 2)
    lo, c, hi = edges[:-2], edges[1:-1], edges[2:]
    return np.maximum(0.0, np.minimum((m - lo) / (c - lo), (hi - m) / (hi - c)))


def vggish_log_mel(x16k: np.ndarray) -> np.ndarray:
    """[frames, 64] float64 log-mel."""
    x = np.asarray(x16k, dtype=np.float64)
    n = np.arange(VGG_WIN)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / VGG_WIN)  # periodic Hann
    fr = frames_no_pad(x, VGG_WIN, VGG_HOP) * window
    mag = np.abs(np.fft.rfft(fr, n=VGG_NFFT, axis=1))  # zero-padded at the end
    w, _ = vggish_mel_matrix()
    return np.log(mag @ w + VGG_LOG_OFFSET)


def vggish_patches(x16k: np.ndarray) -> np.ndarray:
    """[patches, 96, 64] float64."""
    lm = vggish_log_mel(x16k)
    return frames_no_pad(lm, VGG_PATCH, VGG_PATCH_HOP)


# ----------------------------------------------------------------------------
# musicnn (librosa)
# ----------------------------------------------------------------------------
MN_NFFT = 512
MN_HOP = 256
MN_MELS = 96


def musicnn_mel_power(x16k: np.ndarray) -> np.ndarray:
    """[frames, 96] float32 mel power (before float16 rounding)."""
    y = np.asarray(x16k, dtype=np.float32)
    m = librosa.feature.melspectrogram(
        y=y, sr=SR, hop_length=MN_HOP, n_fft=MN_NFFT, n_mels=MN_MELS,
        center=True, pad_mode="reflect", power=2.0, htk=False, norm="slaney",
        fmin=0.0, fmax=8000.0, window="hann",
    )
    assert m.dtype == np.float32, m.dtype
    return np.ascontiguousarray(m.T)


def musicnn_log_mel(mel_power: np.ndarray) -> np.ndarray:
    mel16 = mel_power.astype(np.float16)
    # numpy 1.x promoted `10000 * float16_array` to float32; numpy 2 keeps
    # float16 and would overflow above ~6.55, so cast explicitly.
    out = np.log10(np.float32(10000) * mel16.astype(np.float32) + np.float32(1))
    assert out.dtype == np.float32
    return out


def musicnn_mel_matrix() -> tuple[np.ndarray, np.ndarray]:
    w = librosa.filters.mel(sr=SR, n_fft=MN_NFFT, n_mels=MN_MELS, fmin=0.0,
                            fmax=8000.0, htk=False, norm="slaney")
    centres = librosa.mel_frequencies(n_mels=MN_MELS + 2, fmin=0.0, fmax=8000.0,
                                      htk=False)[1:-1]
    return w, centres


def musicnn_triangle_at(hz: float) -> np.ndarray:
    """Slaney-normalised musicnn filter responses at an arbitrary frequency."""
    pts = librosa.mel_frequencies(n_mels=MN_MELS + 2, fmin=0.0, fmax=8000.0, htk=False)
    lo, c, hi = pts[:-2], pts[1:-1], pts[2:]
    tri = np.maximum(0.0, np.minimum((hz - lo) / (c - lo), (hi - hz) / (hi - c)))
    return tri * 2.0 / (hi - lo)


# ----------------------------------------------------------------------------
# I/O helpers
# ----------------------------------------------------------------------------
def load_16k(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
    assert sr == 44100, (path, sr)
    mono = x.mean(axis=1)
    y = scipy.signal.resample_poly(mono, 160, 441)
    return y.astype(np.float32)


def save(name: str, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    assert np.all(np.isfinite(arr)), name
    np.save(OUT / name, arr, allow_pickle=False)
    print(f"  {name:28s} {str(arr.shape):16s} min={arr.min():.4f} max={arr.max():.4f}")


def process(name: str, x16k: np.ndarray, melpower: bool = False) -> tuple[np.ndarray, np.ndarray]:
    save(f"{name}_16k.npy", x16k)
    vgg = vggish_patches(x16k)
    save(f"{name}_vggish.npy", vgg)
    mp = musicnn_mel_power(x16k)
    if melpower:
        save(f"{name}_musicnn_melpower.npy", mp)
    mn = musicnn_log_mel(mp)
    save(f"{name}_musicnn.npy", mn)
    return vgg, mn


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)

    print("music clips")
    for name in ("rock", "piano"):
        x = load_16k(AUDIO / f"{name}.wav")
        assert x.shape == (160000,), x.shape
        vgg, mn = process(name, x, melpower=(name == "piano"))
        assert vgg.shape == (10, 96, 64), vgg.shape
        assert mn.shape == (626, 96), mn.shape

    print("analytic signals")
    t = np.arange(2 * SR, dtype=np.float64) / SR
    silence = np.zeros(2 * SR, dtype=np.float32)
    sine = (0.5 * np.sin(2.0 * np.pi * 1000.0 * t)).astype(np.float32)

    vs, ms = process("silence", silence)
    assert np.allclose(vs, np.log(VGG_LOG_OFFSET)), "silence vggish"
    assert np.all(ms == 0.0), "silence musicnn"

    v1k, m1k = process("sine1k", sine)

    _, vgg_centres = vggish_mel_matrix()
    _, mn_centres = musicnn_mel_matrix()
    vgg_expected = int(np.argmax(vggish_triangle_at(1000.0)))
    mn_expected = int(np.argmax(musicnn_triangle_at(1000.0)))

    vgg_got = np.argmax(v1k, axis=-1)            # [patches, 96]
    mn_got = np.argmax(m1k, axis=-1)             # [frames]
    assert np.all(vgg_got == vgg_expected), (np.unique(vgg_got), vgg_expected)
    # skip the first/last frame, whose centred window is half reflect-padded
    assert np.all(mn_got[1:-1] == mn_expected), (np.unique(mn_got), mn_expected)
    mn_edge = [int(mn_got[0]), int(mn_got[-1])]

    info = {
        "sample_rate": SR,
        "silence": {
            "samples": int(silence.size),
            "vggish_value": float(np.log(np.float64(VGG_LOG_OFFSET))),
            "musicnn_value": 0.0,
        },
        "sine1k": {
            "signal": "0.5*sin(2*pi*1000*n/16000), n = 0..31999, computed in float64, stored float32",
            "samples": int(sine.size),
            "vggish_argmax_band": vgg_expected,
            "vggish_band_centre_hz": float(vgg_centres[vgg_expected]),
            "vggish_triangle_weight_at_1000hz": float(vggish_triangle_at(1000.0)[vgg_expected]),
            "musicnn_argmax_band": mn_expected,
            "musicnn_band_centre_hz": float(mn_centres[mn_expected]),
            "musicnn_argmax_checked_frames": "1..frames-2 (first/last frame straddle the reflect padding)",
            "musicnn_argmax_first_last_frame": mn_edge,
            "vggish_patches": int(v1k.shape[0]),
            "musicnn_frames": int(m1k.shape[0]),
        },
        "vggish_band_centres_hz": [float(v) for v in vgg_centres],
        "musicnn_band_centres_hz": [float(v) for v in mn_centres],
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "soundfile": sf.__version__,
            "librosa": librosa.__version__,
        },
    }
    with open(OUT / "analytic.json", "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print(f"sine1k: vggish band {vgg_expected} ({vgg_centres[vgg_expected]:.1f} Hz), "
          f"musicnn band {mn_expected} ({mn_centres[mn_expected]:.1f} Hz)")
    print("versions:", info["versions"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
