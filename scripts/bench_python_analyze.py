#!/usr/bin/env python3
"""The Python counterpart of `cargo xtask analyze` for `cargo xtask bench analyze`: songs per
minute of the same work on the same folder of clips, on one process or one process per core.

Per song, what `analyze` computes:
  * decode and down-mix (librosa.load, native rate, mono), resample to 16 kHz with soxr_hq
    (what librosa.load(sr=16000) does);
  * the musicnn log-mel (scripts/reference_logmel.py: librosa melspectrogram, float16
    rounding, log10(10000 x + 1)) and the MSD musicnn network in PyTorch
    (scripts/torch_musicnn.py, built from the same bundle) on every window: one patch of the
    last 187 frames (3 s; shorter for the first windows) every 60 frames (0.96 s), one patch
    per call (on one CPU thread batching is slower: 28 patches at once took 2-3x as long as one
    by one on the development machine), giving the embeddings and the 50 tag probabilities,
    averaged into the song's top tags;
  * the 207 low-level features at the native rate (scripts/reference_features.py, HitMusicNet's
    librosa calls; librosa 0.11 names `feature.rmse` `feature.rms`).
Not done: the popularity head (an LSTM step and a small MLP per window, well under 1% of the
time in Chorder) and Chorder's live per-segment features, so Python does slightly less work.

One process: torch.set_num_threads(1) (and every BLAS/OpenMP pool at one thread). `--procs N`:
a pool of N processes, each single-threaded, the fair best Python does on N cores. Model
loading, imports, numba compilation and one warm-up song per process are not timed.

Prints one JSON line: {"impl", "songs", "procs", "seconds": [one per run], "cpu_seconds": [CPU
time of the songs in each run, summed over processes], versions...}.

    /work/torchvenv/bin/python scripts/bench_python_analyze.py target/bench-analyze/clips-24 \\
        --procs 1 --reps 3
Requirements: scripts/requirements-bench-analyze.txt.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_features  # noqa: E402
import reference_logmel  # noqa: E402
from torch_musicnn import load_musicnn  # noqa: E402

if not hasattr(librosa.feature, "rmse"):
    librosa.feature.rmse = librosa.feature.rms

CONTEXT = 187  # frames of a full patch (3 s)
HOP = 60  # frames between windows (0.96 s)
TOP_TAGS = 5

_net = None


def _init(barrier=None, warmup=None):
    """Per process: one thread, the network loaded, one untimed song."""
    global _net
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process
    _net = load_musicnn()
    if warmup is not None:
        analyze(warmup)
    if barrier is not None:
        barrier.wait()


def windows(n_frames):
    """(start, end) frames of each window: every HOP frames, the last CONTEXT frames."""
    return [(max(0, e - CONTEXT), e) for e in range(HOP, n_frames + 1, HOP)]


def analyze(path):
    """Everything for one song; returns its number of windows, top tag indices and the CPU
    seconds this process spent on it."""
    c0 = time.process_time()
    y, sr = librosa.load(path, sr=None, mono=True)
    reference_features.features(y, sr, with_extras=False)
    y16 = librosa.resample(y, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    lm = reference_logmel.musicnn_log_mel(reference_logmel.musicnn_mel_power(y16))
    wins = windows(lm.shape[0])
    x = torch.from_numpy(np.ascontiguousarray(lm))
    pens, tags = [], []
    with torch.inference_mode():
        for s, e in wins:
            out = _net(x[s:e].unsqueeze(0))
            pens.append(out["penultimate"])
            tags.append(out["tags"])
    mean_tags = torch.cat(tags).mean(dim=0).numpy()
    top = [int(i) for i in np.argsort(-mean_tags)[:TOP_TAGS]]
    return len(wins), top, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", help="folder of .wav clips")
    ap.add_argument("--procs", type=int, default=1, help="processes (1: this one)")
    ap.add_argument("--reps", type=int, default=3, help="timed runs over the folder")
    args = ap.parse_args()
    files = sorted(
        os.path.join(args.folder, f) for f in os.listdir(args.folder) if f.endswith(".wav")
    )
    if not files:
        sys.exit(f"no .wav files in {args.folder}")
    seconds, cpu = [], []
    if args.procs <= 1:
        _init(warmup=files[0])
        for _ in range(args.reps):
            t0 = time.perf_counter()
            out = [analyze(f) for f in files]
            seconds.append(time.perf_counter() - t0)
            cpu.append(sum(o[2] for o in out))
    else:
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(args.procs + 1)
        with ctx.Pool(args.procs, initializer=_init, initargs=(barrier, files[0])) as pool:
            barrier.wait()  # every process has loaded the network and warmed up
            for _ in range(args.reps):
                t0 = time.perf_counter()
                out = pool.map(analyze, files, chunksize=1)
                seconds.append(time.perf_counter() - t0)
                cpu.append(sum(o[2] for o in out))
    print(json.dumps({
        "impl": "python",
        "songs": len(files),
        "procs": max(1, args.procs),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "torch": torch.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "load_average": os.getloadavg(),
    }))


if __name__ == "__main__":
    main()
