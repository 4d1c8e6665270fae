//! musicnn against an independent reference: random weights in the TensorFlow checkpoint
//! layout (HWIO kernels, `[in,out]` dense, unfolded BN), a direct-loop f64 forward pass that
//! follows `models.py` literally, versus import (`convert_tf_checkpoint`) → bundle →
//! `Musicnn` (im2col matmuls, folded BN, pooled-then-affine).

use std::collections::HashMap;

use chorder_models::bundle::{write_bundle, Licence, ModelBundle, Provenance};
use chorder_models::musicnn::{
    bundle_meta, convert_tf_checkpoint, Musicnn, MusicnnConfig, MSD_TAGS,
};
use chorder_models::tf_checkpoint::{CheckpointError, TfTensor};

struct Rng(u64);
impl Rng {
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (hi - lo) * ((self.0 >> 40) as f32 / (1u64 << 24) as f32)
    }
    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

type Ckpt = HashMap<String, TfTensor>;

fn random_checkpoint(cfg: &MusicnnConfig, seed: u64) -> Ckpt {
    let mut rng = Rng(seed);
    let mut ck = Ckpt::new();
    let put = |ck: &mut Ckpt, name: String, shape: Vec<usize>, data: Vec<f32>| {
        ck.insert(name, TfTensor { shape, data });
    };
    let bn = |ck: &mut Ckpt, rng: &mut Rng, i: usize, c: usize| {
        let p = if i == 0 {
            "batch_normalization".to_string()
        } else {
            format!("batch_normalization_{i}")
        };
        // Some negative gammas, so the max-over-frequency must switch to min.
        put(ck, format!("{p}/gamma"), vec![c], rng.vec(c, -0.6, 1.5));
        put(ck, format!("{p}/beta"), vec![c], rng.vec(c, -0.5, 0.5));
        put(
            ck,
            format!("{p}/moving_mean"),
            vec![c],
            rng.vec(c, -0.3, 0.8),
        );
        put(
            ck,
            format!("{p}/moving_variance"),
            vec![c],
            rng.vec(c, 0.05, 2.0),
        );
    };
    let conv = |ck: &mut Ckpt, rng: &mut Rng, i: usize, h: usize, w: usize, c: usize| {
        let p = if i == 0 {
            "conv2d".to_string()
        } else {
            format!("conv2d_{i}")
        };
        let a = 1.5 / ((h * w) as f32).sqrt();
        ck.insert(
            format!("{p}/kernel"),
            TfTensor {
                shape: vec![h, w, 1, c],
                data: rng.vec(h * w * c, -a, a),
            },
        );
        ck.insert(
            format!("{p}/bias"),
            TfTensor {
                shape: vec![c],
                data: rng.vec(c, -0.2, 0.2),
            },
        );
    };
    bn(&mut ck, &mut rng, 0, 1);
    let kh = cfg.time_kernel;
    let mut layer = 0;
    let mut shapes: Vec<(usize, usize, usize)> = Vec::new();
    for &w in &cfg.timbral_widths {
        shapes.push((kh, w, cfg.timbral_filters));
    }
    for &k in &cfg.temporal_lengths {
        shapes.push((k, 1, cfg.temporal_filters));
    }
    let m = cfg.midend_filters;
    shapes.push((kh, cfg.frontend_channels(), m));
    shapes.push((kh, m, m));
    shapes.push((kh, m, m));
    for (h, w, c) in shapes {
        conv(&mut ck, &mut rng, layer, h, w, c);
        layer += 1;
        bn(&mut ck, &mut rng, layer, c);
    }
    let n_in = 2 * cfg.pooled_channels();
    bn(&mut ck, &mut rng, layer + 1, n_in);
    let a = 1.0 / (n_in as f32).sqrt();
    ck.insert(
        "dense/kernel".into(),
        TfTensor {
            shape: vec![n_in, cfg.backend_units],
            data: rng.vec(n_in * cfg.backend_units, -a, a),
        },
    );
    ck.insert(
        "dense/bias".into(),
        TfTensor {
            shape: vec![cfg.backend_units],
            data: rng.vec(cfg.backend_units, -0.1, 0.3),
        },
    );
    bn(&mut ck, &mut rng, layer + 2, cfg.backend_units);
    let a = 1.0 / (cfg.backend_units as f32).sqrt();
    ck.insert(
        "dense_1/kernel".into(),
        TfTensor {
            shape: vec![cfg.backend_units, cfg.n_tags],
            data: rng.vec(cfg.backend_units * cfg.n_tags, -a, a),
        },
    );
    ck.insert(
        "dense_1/bias".into(),
        TfTensor {
            shape: vec![cfg.n_tags],
            data: rng.vec(cfg.n_tags, -0.5, 0.5),
        },
    );
    ck
}

/// `models.py` literally, in f64 with direct loops. Returns (penultimate, max, mean, tags).
fn reference(cfg: &MusicnnConfig, ck: &Ckpt, x: &[f32], n: usize) -> [Vec<f64>; 4] {
    let g = |name: &str| -> Vec<f64> { ck[name].data.iter().map(|&v| f64::from(v)).collect() };
    let bn = |i: usize, c: usize, v: f64| -> f64 {
        let p = if i == 0 {
            "batch_normalization".to_string()
        } else {
            format!("batch_normalization_{i}")
        };
        let (ga, be, mu, var) = (
            g(&format!("{p}/gamma"))[c],
            g(&format!("{p}/beta"))[c],
            g(&format!("{p}/moving_mean"))[c],
            g(&format!("{p}/moving_variance"))[c],
        );
        ga * (v - mu) / (var + 1e-3).sqrt() + be
    };
    let nm = cfg.n_mels;
    let xn: Vec<Vec<f64>> = (0..n)
        .map(|t| {
            (0..nm)
                .map(|f| bn(0, 0, f64::from(x[t * nm + f])))
                .collect()
        })
        .collect();
    let at = |t: isize, f: usize| -> f64 {
        if t < 0 || t >= n as isize {
            0.0
        } else {
            xn[t as usize][f]
        }
    };
    let mut fe: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut layer = 0;
    // Timbral: pad 3/3 in time, valid conv, ReLU, BN, max over frequency.
    for &w in &cfg.timbral_widths {
        let kname = if layer == 0 {
            "conv2d".to_string()
        } else {
            format!("conv2d_{layer}")
        };
        let (k, b) = (g(&format!("{kname}/kernel")), g(&format!("{kname}/bias")));
        let c_n = cfg.timbral_filters;
        for t in 0..n {
            for c in 0..c_n {
                let mut best = f64::NEG_INFINITY;
                for f in 0..=(nm - w) {
                    let mut z = b[c];
                    for dt in 0..cfg.time_kernel {
                        for df in 0..w {
                            z += at(t as isize + dt as isize - 3, f + df)
                                * k[(dt * w + df) * c_n + c];
                        }
                    }
                    best = best.max(bn(layer + 1, c, z.max(0.0)));
                }
                fe[t].push(best);
            }
        }
        layer += 1;
    }
    // Temporal: TF 'same' ((k-1)/2 before, k/2 after), ReLU, BN, max over frequency.
    for &kl in &cfg.temporal_lengths {
        let kname = format!("conv2d_{layer}");
        let (k, b) = (g(&format!("{kname}/kernel")), g(&format!("{kname}/bias")));
        let c_n = cfg.temporal_filters;
        let before = ((kl - 1) / 2) as isize;
        for t in 0..n {
            for c in 0..c_n {
                let mut best = f64::NEG_INFINITY;
                for f in 0..nm {
                    let mut z = b[c];
                    for dt in 0..kl {
                        z += at(t as isize + dt as isize - before, f) * k[dt * c_n + c];
                    }
                    best = best.max(bn(layer + 1, c, z.max(0.0)));
                }
                fe[t].push(best);
            }
        }
        layer += 1;
    }
    let midconv = |input: &Vec<Vec<f64>>, layer: usize| -> Vec<Vec<f64>> {
        let (k, b) = (
            g(&format!("conv2d_{layer}/kernel")),
            g(&format!("conv2d_{layer}/bias")),
        );
        let c_in = input[0].len();
        let c_n = cfg.midend_filters;
        (0..n)
            .map(|t| {
                (0..c_n)
                    .map(|c| {
                        let mut z = b[c];
                        for dt in 0..7 {
                            let tt = t as isize + dt as isize - 3;
                            if tt < 0 || tt >= n as isize {
                                continue;
                            }
                            for ch in 0..c_in {
                                z += input[tt as usize][ch] * k[(dt * c_in + ch) * c_n + c];
                            }
                        }
                        bn(layer + 1, c, z.max(0.0))
                    })
                    .collect()
            })
            .collect()
    };
    let c1 = midconv(&fe, layer);
    let r2: Vec<Vec<f64>> = midconv(&c1, layer + 1)
        .iter()
        .zip(&c1)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x + y).collect())
        .collect();
    let r3: Vec<Vec<f64>> = midconv(&r2, layer + 2)
        .iter()
        .zip(&r2)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x + y).collect())
        .collect();
    let feats: Vec<Vec<f64>> = (0..n)
        .map(|t| [&fe[t][..], &c1[t][..], &r2[t][..], &r3[t][..]].concat())
        .collect();
    let nc = feats[0].len();
    let maxp: Vec<f64> = (0..nc)
        .map(|c| feats.iter().map(|r| r[c]).fold(f64::NEG_INFINITY, f64::max))
        .collect();
    let meanp: Vec<f64> = (0..nc)
        .map(|c| feats.iter().map(|r| r[c]).sum::<f64>() / n as f64)
        .collect();
    let flat: Vec<f64> = (0..2 * nc)
        .map(|i| {
            if i % 2 == 0 {
                maxp[i / 2]
            } else {
                meanp[i / 2]
            }
        })
        .collect();
    let flat: Vec<f64> = flat
        .iter()
        .enumerate()
        .map(|(i, &v)| bn(layer + 4, i, v))
        .collect();
    let (w, b) = (g("dense/kernel"), g("dense/bias"));
    let u = cfg.backend_units;
    let pen: Vec<f64> = (0..u)
        .map(|o| {
            bn(
                layer + 5,
                o,
                (b[o] + (0..2 * nc).map(|i| flat[i] * w[i * u + o]).sum::<f64>()).max(0.0),
            )
        })
        .collect();
    let (w, b) = (g("dense_1/kernel"), g("dense_1/bias"));
    let tags: Vec<f64> = (0..cfg.n_tags)
        .map(|o| {
            1.0 / (1.0
                + (-(b[o] + (0..u).map(|i| pen[i] * w[i * cfg.n_tags + o]).sum::<f64>())).exp())
        })
        .collect();
    [pen, maxp, meanp, tags]
}

fn max_err(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f64::max)
}

fn build(cfg: &MusicnnConfig, ck: &Ckpt) -> Musicnn {
    let get = |name: &str| {
        ck.get(name)
            .cloned()
            .ok_or_else(|| CheckpointError::NotFound { name: name.into() })
    };
    let (tensors, sources) = convert_tf_checkpoint(cfg, &get).unwrap();
    assert_eq!(sources.len(), ck.len(), "every inference tensor is used");
    let meta = bundle_meta(
        cfg,
        &MSD_TAGS,
        Provenance {
            source: "random".into(),
            source_sha256: String::new(),
            checkpoint: "random".into(),
            converted_by: "test".into(),
            tensors: sources,
        },
        Licence {
            spdx: "MIT".into(),
            text: "test".into(),
        },
    );
    let bytes = write_bundle(&meta, &tensors).unwrap();
    Musicnn::from_bundle(&ModelBundle::parse(&bytes).unwrap()).unwrap()
}

#[test]
fn matches_direct_loop_reference_on_random_weights() {
    let cfg = MusicnnConfig::standard();
    let ck = random_checkpoint(&cfg, 7);
    let net = build(&cfg, &ck);
    let mut rng = Rng(99);
    // T = 1 (shorter than every kernel), 7, and 45 (longer than the k=32 temporal kernel).
    for n in [1usize, 7, 45] {
        let x = rng.vec(n * cfg.n_mels, 0.0, 4.0);
        let out = net.forward_frames(&x, n, cfg.n_mels).unwrap();
        let [pen, maxp, meanp, tags] = reference(&cfg, &ck, &x, n);
        let errs = [
            max_err(&out.penultimate, &pen),
            max_err(&out.max_pool, &maxp),
            max_err(&out.mean_pool, &meanp),
            max_err(&out.tags, &tags),
        ];
        eprintln!("T={n}: relative errors pen/max/mean/tags {errs:?}");
        for e in errs {
            assert!(e < 2e-5, "T={n}: {errs:?}");
        }
        // The outputs are not degenerate (the comparison would be vacuous otherwise).
        assert!(pen.iter().filter(|v| v.abs() > 1e-3).count() > 50);
        assert!(tags.iter().any(|&p| p > 0.05 && p < 0.95));
    }
}

#[test]
fn rejects_wrong_input_shapes() {
    let cfg = MusicnnConfig::standard();
    let net = build(&cfg, &random_checkpoint(&cfg, 3));
    assert!(net.forward_frames(&[], 0, 96).is_err());
    assert!(net.forward_frames(&[0.0; 64 * 5], 5, 64).is_err());
    assert!(net.forward_frames(&[0.0; 96 * 5], 4, 96).is_err());
}
