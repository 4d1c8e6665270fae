#!/usr/bin/env python3
"""Golden reference outputs of the ORIGINAL musicnn MSD_musicnn checkpoint.

Loads the TF 1.12 training graph shipped in the musicnn==0.1.0 wheel
(`MSD_musicnn/.meta`) with tf.compat.v1 in TensorFlow 2.x, restores the
checkpoint from the folder prefix (`MSD_musicnn/`), and evaluates it on the
Rust streaming patch layout:

    patch k (k = 0, 1, 2, ...) ends at frame e_k = 60 * (k + 1) (exclusive)
    and holds frames max(0, e_k - 187) .. e_k of the whole-signal log-mel;
    a trailing incomplete patch (e_k > T) is dropped.

Each patch is fed on its own (batch 1, variable length: the graph's input
placeholder is re-declared as [-1, -1, 96] before import; nothing in the
graph depends on the static 187).

Outputs per clip (float32): <clip>_logmel.npy [T,96], <clip>_penultimate.npy
[P,200], <clip>_tags.npy [P,50], <clip>_maxpool.npy [P,753],
<clip>_meanpool.npy [P,753]; plus patches.json, tensor_inventory.json,
summary.json.

An independent float64 numpy forward pass (written from models.py, reading the
raw checkpoint tensors) is run on every patch and compared with TensorFlow.

Usage (see scripts/requirements-musicnn-golden.txt):
    python3 scripts/musicnn_golden.py --pkg /tmp/musicnn_pkg/musicnn \
        --in-dir fixtures/logmel --out-dir fixtures/musicnn --clips rock piano
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH = 187  # native musicnn patch length (3 s)
STEP = 60  # Rust streaming hop (0.96 s)
BN_EPS = 1e-3

IN_NAME = "model/Placeholder:0"
TRAIN_NAME = "model/Placeholder_2:0"
OUT_NAMES = {
    "penultimate": "model/batch_normalization_10/batchnorm/add_1:0",
    "tags": "model/Sigmoid:0",
    "maxpool": "model/Max:0",
    "meanpool": "model/moments/Squeeze:0",
}

MSD_TAGS = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists",
    "dance", "00s", "alternative rock", "jazz", "beautiful", "metal",
    "chillout", "male vocalists", "classic rock", "soul", "indie rock",
    "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental",
    "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party",
    "country", "easy listening", "sexy", "catchy", "funk", "electro",
    "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad",
    "House", "happy",
]


# --------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------
def logmel(y, pad_mode="reflect"):
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y, sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS, center=True,
        pad_mode=pad_mode, power=2.0, htk=False, norm="slaney",
    )
    x = mel.T.astype(np.float16)  # musicnn rounds the mel power to float16
    # numpy<2 promotes `10000 * float16` to float32; do it explicitly so the
    # result does not depend on the numpy casting rules (NEP 50).
    return np.log10(10000.0 * x.astype(np.float32) + 1.0).astype(np.float32)


def patch_bounds(n_frames):
    out = []
    k = 0
    while True:
        e = STEP * (k + 1)
        if e > n_frames:
            break
        out.append((max(0, e - PATCH), e))
        k += 1
    return out


# --------------------------------------------------------------------------
# TensorFlow: the checkpoint's own graph
# --------------------------------------------------------------------------
def load_graph(model_dir, variable_time=True):
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2

    tf.compat.v1.disable_eager_execution()
    mg = meta_graph_pb2.MetaGraphDef()
    with open(os.path.join(model_dir, ".meta"), "rb") as f:
        mg.ParseFromString(f.read())
    stripped = 0
    for node in mg.graph_def.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
            stripped += 1
        if variable_time and node.name == "model/Placeholder":
            node.attr["shape"].shape.dim[1].size = -1
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(mg, clear_devices=True)
        sess = tf.compat.v1.Session(graph=graph)
        # the checkpoint prefix is the folder itself (files named ".index" ...)
        saver.restore(sess, os.path.join(model_dir, ""))
    shp = graph.get_tensor_by_name(IN_NAME).shape
    print(f"graph: TF {mg.meta_info_def.tensorflow_version} meta graph, "
          f"{len(mg.graph_def.node)} nodes, stripped _output_shapes from {stripped}; "
          f"input {IN_NAME} shape {shp}")
    for n in list(OUT_NAMES.values()) + [IN_NAME, TRAIN_NAME]:
        graph.get_tensor_by_name(n)  # raises if the name does not exist
    return graph, sess


def run_tf(graph, sess, patch):
    fetch = [graph.get_tensor_by_name(n) for n in OUT_NAMES.values()]
    vals = sess.run(fetch, feed_dict={
        graph.get_tensor_by_name(IN_NAME): patch[None].astype(np.float32),
        graph.get_tensor_by_name(TRAIN_NAME): False,
    })
    return {k: np.asarray(v).reshape(-1).astype(np.float32)
            for k, v in zip(OUT_NAMES.keys(), vals)}


# --------------------------------------------------------------------------
# Independent numpy (float64) forward pass, written from models.py
# --------------------------------------------------------------------------
class NumpyMusicnn:
    def __init__(self, model_dir):
        import tensorflow as tf

        r = checkpoint_reader(model_dir)
        self.w = {n: r.get_tensor(n).astype(np.float64)
                  for n in r.get_variable_to_shape_map()
                  if "Adam" not in n and "power" not in n}

    def bn(self, x, i):
        p = "batch_normalization" + ("" if i == 0 else f"_{i}")
        w = self.w
        return (w[p + "/gamma"] * (x - w[p + "/moving_mean"])
                / np.sqrt(w[p + "/moving_variance"] + BN_EPS) + w[p + "/beta"])

    def conv(self, i):
        p = "conv2d" + ("" if i == 0 else f"_{i}")
        return self.w[p + "/kernel"], self.w[p + "/bias"]

    def forward(self, x):
        from numpy.lib.stride_tricks import sliding_window_view as swv

        relu = lambda a: np.maximum(a, 0.0)
        T = x.shape[0]
        xn = self.bn(x.astype(np.float64)[..., None], 0)[..., 0]  # [T,96]
        xp = np.pad(xn, ((3, 3), (0, 0)))
        fe = []
        # timbral: conv [7,kw] valid over (time, mel), ReLU, BN, max over mel
        for ci, bi in ((0, 1), (1, 2)):
            k, b = self.conv(ci)
            kh, kw, _, co = k.shape
            win = swv(xp, (kh, kw))  # [T, 96-kw+1, kh, kw]
            y = win.reshape(T, -1, kh * kw) @ k.reshape(kh * kw, co) + b
            fe.append(self.bn(relu(y), bi).max(axis=1))
        # temporal: conv [k,1] 'same' (pad (k-1)//2 before, k//2 after)
        for ci, bi in ((2, 3), (3, 4), (4, 5)):
            k, b = self.conv(ci)
            kh, co = k.shape[0], k.shape[3]
            xt = np.pad(xn, (((kh - 1) // 2, kh // 2), (0, 0)))
            win = swv(xt, kh, axis=0)  # [T, 96, kh]
            y = win @ k.reshape(kh, co) + b  # [T, 96, co]
            fe.append(self.bn(relu(y), bi).max(axis=1))
        fe = np.concatenate(fe, axis=1)  # [T,561]

        def mid(inp, ci, bi):
            k, b = self.conv(ci)
            kh, kw, _, co = k.shape
            win = swv(np.pad(inp, ((3, 3), (0, 0))), kh, axis=0)  # [T, kw, kh]
            y = win.transpose(0, 2, 1).reshape(T, kh * kw) @ k.reshape(kh * kw, co) + b
            return self.bn(relu(y), bi)

        c1 = mid(fe, 5, 6)
        r2 = mid(c1, 6, 7) + c1
        r3 = mid(r2, 7, 8) + r2
        feat = np.concatenate([fe, c1, r2, r3], axis=1)  # [T,753]
        mx, mn = feat.max(axis=0), feat.mean(axis=0)
        flat = np.stack([mx, mn], axis=1).reshape(-1)  # interleaved [1506]
        h = self.bn(flat, 9)
        pen = self.bn(relu(h @ self.w["dense/kernel"] + self.w["dense/bias"]), 10)
        logits = pen @ self.w["dense_1/kernel"] + self.w["dense_1/bias"]
        return {"penultimate": pen, "tags": 1.0 / (1.0 + np.exp(-logits)),
                "maxpool": mx, "meanpool": mn}


# --------------------------------------------------------------------------
def checkpoint_reader(model_dir):
    """tf.train.load_checkpoint / list_variables cannot be used here: given the
    folder they follow its `checkpoint` file, which points at the author's
    machine (/home/jpons/...). Open the bundle by its prefix instead."""
    import tensorflow as tf

    return tf.compat.v1.train.NewCheckpointReader(os.path.join(model_dir, ""))


def tensor_inventory(model_dir):
    r = checkpoint_reader(model_dir)
    shapes = r.get_variable_to_shape_map()
    dtypes = r.get_variable_to_dtype_map()
    inv = []
    for name in sorted(shapes):  # same order as tf.train.list_variables
        shape = shapes[name]
        infer = not ("/Adam" in name or name in ("beta1_power", "beta2_power"))
        inv.append({"name": name, "shape": list(shape),
                    "dtype": dtypes[name].name, "inference": infer})
    return inv


def wait_for(paths, poll_s, deadline_s):
    t0 = time.time()
    while not all(os.path.exists(p) for p in paths):
        if time.time() - t0 > deadline_s:
            sys.exit(f"inputs missing after {deadline_s}s: {paths}")
        print(f"waiting for {paths} ...", flush=True)
        time.sleep(poll_s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pkg", default="/tmp/musicnn_pkg/musicnn",
                    help="unzipped musicnn package directory (holds MSD_musicnn/)")
    ap.add_argument("--model", default="MSD_musicnn")
    ap.add_argument("--in-dir", default="fixtures/logmel")
    ap.add_argument("--out-dir", default="fixtures/musicnn")
    ap.add_argument("--clips", nargs="+", default=["rock", "piano"])
    ap.add_argument("--wait", type=int, default=0,
                    help="poll for the input .npy files for up to this many seconds")
    args = ap.parse_args()

    import librosa
    import tensorflow as tf

    model_dir = os.path.join(args.pkg, args.model)
    inputs = {c: os.path.join(args.in_dir, f"{c}_16k.npy") for c in args.clips}
    wait_for(list(inputs.values()), 120, args.wait)
    os.makedirs(args.out_dir, exist_ok=True)

    versions = {"python": sys.version.split()[0], "numpy": np.__version__,
                "tensorflow": tf.__version__, "librosa": librosa.__version__}
    print("versions:", versions)

    graph, sess = load_graph(model_dir)
    ref = NumpyMusicnn(model_dir)

    inv = tensor_inventory(model_dir)
    with open(os.path.join(args.out_dir, "tensor_inventory.json"), "w") as f:
        json.dump({"checkpoint": f"musicnn==0.1.0 {args.model}/ (prefix)",
                   "n_tensors": len(inv),
                   "n_inference": sum(t["inference"] for t in inv),
                   "tensors": inv}, f, indent=1)
    print(f"tensor inventory: {len(inv)} tensors, "
          f"{sum(t['inference'] for t in inv)} inference")

    patches_json = {"layout": f"patch k ends at frame {STEP}*(k+1) (exclusive), "
                              f"starts at max(0, end-{PATCH}); trailing incomplete patch dropped",
                    "sr": SR, "hop": HOP, "n_fft": N_FFT, "n_mels": N_MELS,
                    "clips": {}}
    summary = {"versions": versions, "clips": {}, "checks": {}}

    for clip, path in inputs.items():
        y = np.load(path)
        assert y.dtype == np.float32 and y.ndim == 1, (y.dtype, y.shape)
        lm = logmel(y)
        T = lm.shape[0]
        bounds = patch_bounds(T)
        print(f"{clip}: {y.shape[0]} samples ({y.shape[0] / SR:.3f} s) "
              f"-> logmel {lm.shape}, {len(bounds)} patches")
        outs = {k: [] for k in OUT_NAMES}
        max_dev = {k: 0.0 for k in OUT_NAMES}
        for (s, e) in bounds:
            o = run_tf(graph, sess, lm[s:e])
            r = ref.forward(lm[s:e])
            for k in OUT_NAMES:
                outs[k].append(o[k])
                max_dev[k] = max(max_dev[k], float(np.abs(o[k] - r[k]).max()))
        outs = {k: np.stack(v).astype(np.float32) for k, v in outs.items()}
        for k, v in outs.items():
            assert np.isfinite(v).all(), (clip, k)
        assert outs["tags"].min() >= 0.0 and outs["tags"].max() <= 1.0
        assert outs["penultimate"].shape == (len(bounds), 200)
        assert outs["tags"].shape == (len(bounds), 50)
        assert outs["maxpool"].shape == outs["meanpool"].shape == (len(bounds), 753)
        print(f"  max |TF - numpy float64 forward| over patches: {max_dev}")

        np.save(os.path.join(args.out_dir, f"{clip}_logmel.npy"), lm)
        for k, v in outs.items():
            np.save(os.path.join(args.out_dir, f"{clip}_{k}.npy"), v)

        mean_tags = outs["tags"].mean(axis=0)
        top = np.argsort(-mean_tags)[:5]
        top5 = [(MSD_TAGS[i], round(float(mean_tags[i]), 4)) for i in top]
        print(f"  top-5 tags (mean over patches): {top5}")

        # padding matters: zero ('constant') vs reflect STFT padding
        lm0 = logmel(y, pad_mode="constant")
        d_lm = float(np.abs(lm0 - lm).max())
        rows = np.where(np.abs(lm0 - lm).max(axis=1) > 0)[0].tolist()
        s, e = bounds[0]
        d_pen = float(np.abs(run_tf(graph, sess, lm0[s:e])["penultimate"]
                             - outs["penultimate"][0]).max())
        print(f"  zero vs reflect padding: logmel max|diff| {d_lm:.4f} (frames {rows}), "
              f"patch-0 penultimate max|diff| {d_pen:.4g}")

        patches_json["clips"][clip] = {
            "input": path, "n_samples": int(y.shape[0]),
            "input_sha256": hashlib.sha256(y.tobytes()).hexdigest(),
            "n_frames": T, "patches": [list(b) for b in bounds]}
        summary["clips"][clip] = {
            "n_frames": T, "n_patches": len(bounds),
            "top5_mean_tags": top5,
            "max_abs_tf_vs_numpy_f64": max_dev,
            "zero_vs_reflect_logmel_max_abs": d_lm,
            "zero_vs_reflect_frames": rows,
            "zero_vs_reflect_patch0_penultimate_max_abs": d_pen}

    # determinism + batch/length checks on one full 187-frame patch
    clip0 = args.clips[0]
    lm = np.load(os.path.join(args.out_dir, f"{clip0}_logmel.npy"))
    s, e = patch_bounds(lm.shape[0])[3] if len(patch_bounds(lm.shape[0])) > 3 else (0, PATCH)
    p = lm[s:e]
    a, b = run_tf(graph, sess, p), run_tf(graph, sess, p)
    det = max(float(np.abs(a[k] - b[k]).max()) for k in OUT_NAMES)
    # the same patch through a graph whose placeholder keeps the static 187
    g2, s2 = load_graph(model_dir, variable_time=False)
    c = run_tf(g2, s2, p)
    static = max(float(np.abs(a[k] - c[k]).max()) for k in OUT_NAMES)
    try:  # the unmodified placeholder rejects anything but 187 frames
        run_tf(g2, s2, lm[0:STEP])
        static_rejects_60 = False
    except ValueError as err:
        static_rejects_60 = True
        print(f"static-187 graph rejects a {STEP}-frame patch: {str(err)[:100]}")
    print(f"determinism ({clip0} frames {s}..{e}): run twice max|diff| {det}; "
          f"variable-length vs static-187 graph max|diff| {static}")
    summary["checks"] = {"patch": [clip0, s, e], "run_twice_max_abs": det,
                         "variable_vs_static187_graph_max_abs": static,
                         "static187_graph_rejects_60_frames": static_rejects_60}

    with open(os.path.join(args.out_dir, "patches.json"), "w") as f:
        json.dump(patches_json, f, indent=1)
    with open(os.path.join(args.out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("done")


if __name__ == "__main__":
    main()
