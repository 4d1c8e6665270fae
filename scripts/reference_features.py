#!/usr/bin/env python3
"""Reference values of the 207 SpotGenTrack low-level features, computed with librosa the
way HitMusicNet's extractor (`analysis/low_level_feature_extraction.py`) did.

Not run by CI. Environment (Python 3.8, librosa 0.6.3, the last release that still has
`librosa.feature.rmse`, which the original calls):

    python3.8 -m venv /tmp/feat-venv
    /tmp/feat-venv/bin/pip install -r scripts/requirements-features.txt
    /tmp/feat-venv/bin/python scripts/reference_features.py            # writes fixtures/features/
    /tmp/feat-venv/bin/python scripts/reference_features.py --bench    # times one 30 s clip

For each clip in fixtures/audio/ it writes into fixtures/features/:
  <clip>_input.npy     the exact mono float32 signal analysed (so the Rust test skips decoding)
  <clip>_input.json    its sample rate, length, source and the librosa version
  <clip>_librosa.json  column name -> value (207 columns) plus "_meta" (tuning, clean-mode
                       extras)
"""
import argparse
import json
import os
import sys
import time

# One thread everywhere, like the Rust benchmark.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import librosa as li  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDIO = os.path.join(ROOT, "fixtures", "audio")
OUT = os.path.join(ROOT, "fixtures", "features")
CLIPS = ("rock", "piano")


def column_names():
    names = ["Chroma_%d" % i for i in range(1, 13)]
    names += ["MEL_%d" % i for i in range(1, 129)]
    names += ["MFCC_%d" % i for i in range(1, 49)]
    names += ["Spectral_contrast_%d" % i for i in range(1, 8)]
    names += ["Tonnetz_%d" % i for i in range(1, 7)]
    names += ["ZCR", "entropy_energy", "spectral_bandwith", "spectral_centroid",
              "spectral_rollOff_max", "spectral_rollOff_min"]
    assert len(names) == 207
    return names


def load_like_original(path):
    """The original reads the native rate from the file's metadata (pydub mediainfo) and
    calls librosa.load(path, sr=native, mono=True): channel mean, no resampling."""
    native = sf.info(path).samplerate
    y, sr = li.load(path, sr=native, mono=True)
    assert sr == native
    return y, sr


def features(y, sr, with_extras=True):
    """The 207 columns, one librosa call per family as in the original (means over frames,
    except the centroid, which the original takes from the first frame only), and the
    extras below (None when `with_extras` is false: scripts/bench_python_analyze.py times the
    columns alone)."""
    out = {}
    mean = lambda m: np.mean(m, axis=1)  # noqa: E731  (the original's apply_stat('mean'))
    chroma = mean(li.feature.chroma_cqt(y=y, sr=sr, hop_length=512))
    mel = mean(li.feature.melspectrogram(y=y, sr=sr))
    mfcc = mean(li.feature.mfcc(y=y, sr=sr, n_mfcc=48))
    contrast = mean(li.feature.spectral_contrast(y=y, sr=sr, n_fft=2048, hop_length=512))
    tonnetz = mean(li.feature.tonnetz(y=y, sr=sr))
    zcr = np.mean(li.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512, center=True))
    rmse = li.feature.rmse(y=y)
    mu = np.mean(rmse)
    q = np.abs(rmse - mu)
    entropy = np.sum(q * np.log10(q))
    centroid_frames = li.feature.spectral_centroid(y=y, sr=sr, n_fft=2048, hop_length=512)
    bandwidth = np.mean(li.feature.spectral_bandwidth(y=y, sr=sr, n_fft=2048, hop_length=512))
    roll_max = np.mean(li.feature.spectral_rolloff(y=y, sr=sr, n_fft=2048, hop_length=512,
                                                   roll_percent=0.85))
    roll_min = np.mean(li.feature.spectral_rolloff(y=y, sr=sr, n_fft=2048, hop_length=512,
                                                   roll_percent=0.1))
    values = (list(chroma) + list(mel) + list(mfcc) + list(contrast) + list(tonnetz)
              + [zcr, entropy, bandwidth, centroid_frames[0][0], roll_max, roll_min])
    for name, v in zip(column_names(), values):
        out[name] = float(v)
    if not with_extras:
        return out, None
    extras = {
        "tuning": float(li.estimate_tuning(y=y, sr=sr)),
        "spectral_centroid_mean": float(np.mean(centroid_frames)),
        "rms_mean": float(mu),
        "n_frames": int(centroid_frames.shape[1]),
    }
    return out, extras


def write_clip(clip):
    path = os.path.join(AUDIO, clip + ".wav")
    y, sr = load_like_original(path)
    y = np.ascontiguousarray(y, dtype=np.float32)
    np.save(os.path.join(OUT, clip + "_input.npy"), y)
    meta = {
        "source": "fixtures/audio/%s.wav" % clip,
        "sample_rate": int(sr),
        "samples": int(len(y)),
        "load": "librosa.load(path, sr=<native rate>, mono=True)",
        "librosa": li.__version__,
        "numpy": np.__version__,
    }
    with open(os.path.join(OUT, clip + "_input.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    values, extras = features(y, sr)
    values["_meta"] = dict(extras, librosa=li.__version__, numpy=np.__version__,
                           python=sys.version.split()[0])
    with open(os.path.join(OUT, clip + "_librosa.json"), "w") as f:
        json.dump(values, f, indent=1)
        f.write("\n")
    print("%s: %d samples at %d Hz, tuning %.2f" % (clip, len(y), sr, extras["tuning"]))


def bench(repeats):
    """Seconds per 30 s clip: the rock fixture signal tiled to 30 s (as the Rust bench)."""
    y = np.load(os.path.join(OUT, "rock_input.npy"))
    sr = json.load(open(os.path.join(OUT, "rock_input.json")))["sample_rate"]
    y = np.ascontiguousarray(np.tile(y, 3)[: 30 * sr])
    features(y, sr)  # warm up numba and caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        features(y, sr)
        times.append(time.perf_counter() - t0)
    # Time in chroma_cqt alone (the original calls it twice: chroma and tonnetz).
    t0 = time.perf_counter()
    li.feature.chroma_cqt(y=y, sr=sr, hop_length=512)
    t_cqt = time.perf_counter() - t0
    print("librosa %s, 30 s at %d Hz, 1 thread: median %.3f s per clip (min %.3f, %d runs); "
          "one chroma_cqt %.3f s" % (li.__version__, sr, float(np.median(times)), min(times),
                                     repeats, t_cqt))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", action="store_true", help="time the extractor on a 30 s clip")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("clips", nargs="*", default=list(CLIPS))
    args = ap.parse_args()
    if args.bench:
        bench(args.repeats)
        return
    os.makedirs(OUT, exist_ok=True)
    for clip in args.clips:
        write_clip(clip)


if __name__ == "__main__":
    main()
