"""Time librosa's mel spectrogram on the same 30 s, 16 kHz signal as the Rust benchmark
(`cargo bench -p chorder-engine --bench frontend`), one thread, for the README's ratio.

Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
     /tmp/refvenv/bin/python scripts/bench_librosa_logmel.py
(/tmp/refvenv from scripts/requirements-reference.txt.)
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import timeit

import librosa
import numpy as np


def signal(rate=16000, seconds=30.0):
    """Same formula as engine/benches/frontend.rs: two sines plus uniform noise (the Rust
    side draws its noise from an LCG; the values do not matter for timing)."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    noise = np.random.default_rng(1).random(n) - 0.5
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1234 * t) + 0.1 * noise).astype(np.float32)


def vggish(x):
    # VGGish parameters in librosa terms: magnitude (power=1), 400-sample Hann window in a
    # 512-point FFT, hop 160, no centring, 64 HTK bands 125-7500 Hz, ln(mel + 0.01).
    m = librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=512, win_length=400, hop_length=160, center=False, power=1.0,
        n_mels=64, fmin=125, fmax=7500, htk=True, norm=None)
    return np.log(m + 0.01)


def musicnn(x):
    m = librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=512, hop_length=256, n_mels=96, center=True, pad_mode="reflect")
    return np.log10(10000 * m.astype(np.float16).astype(np.float32) + 1)


def main():
    x = signal()
    for name, f in (("vggish", vggish), ("musicnn", musicnn)):
        f(x)  # warm-up (filter-bank caches, numba)
        runs = 50
        best = min(timeit.repeat(lambda: f(x), number=1, repeat=runs))
        mean = timeit.timeit(lambda: f(x), number=runs) / runs
        print(f"librosa {librosa.__version__} {name}: 30 s of 16 kHz audio in "
              f"{mean * 1e3:.2f} ms mean, {best * 1e3:.2f} ms best "
              f"({30.0 / mean:.0f}x real time)")


if __name__ == "__main__":
    main()
