//! The torchvggish `.pth` importer and the VGGish network against `fixtures/vggish_mini/`
//! (a scaled-down torchvggish `VGG` with random weights and a PCA file, and its PyTorch outputs
//! on two real log-mel patches; made by `scripts/vggish_mini_fixture.py`, see its README):
//! embedding and PCA output within 1e-4, quantised output exact. Then the importer's errors for
//! foreign, legacy, incomplete and mis-shaped files (written here as minimal torch zip files).

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{Device, Module, Tensor};
use chorder_engine::npy::read_f32;
use chorder_models::bundle::{write_bundle, Licence, ModelBundle, Provenance};
use chorder_models::vggish::{bundle_meta, import_torchvggish, ImportError, Vggish, VggishConfig};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/vggish_mini")
        .join(name)
}

fn load(name: &str) -> (Vec<usize>, Vec<f32>) {
    let p = fixture(name);
    read_f32(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Imports the fixture into a bundle and loads it back the way every consumer does.
fn mini_bundle() -> ModelBundle {
    let imp =
        import_torchvggish(&fixture("vggish_mini.pth"), Some(&fixture("pca_mini.pth"))).unwrap();
    let meta = bundle_meta(
        &imp.config,
        Provenance {
            source: "fixtures/vggish_mini".into(),
            source_sha256: "00".into(),
            checkpoint: "vggish_mini.pth + pca_mini.pth".into(),
            converted_by: "test".into(),
            tensors: imp.sources,
        },
        Licence {
            spdx: "MIT".into(),
            text: "test fixture".into(),
        },
    );
    ModelBundle::parse(&write_bundle(&meta, &imp.tensors).unwrap()).unwrap()
}

#[test]
fn importer_reads_the_structure_off_the_shapes() {
    let imp =
        import_torchvggish(&fixture("vggish_mini.pth"), Some(&fixture("pca_mini.pth"))).unwrap();
    assert_eq!(
        imp.config,
        VggishConfig {
            n_frames: 96,
            n_mels: 64,
            conv_blocks: vec![vec![8], vec![16], vec![32, 32], vec![64, 64]],
            fc: vec![64, 64],
            embedding_size: 128,
            postprocess: true,
        }
    );
    assert_eq!(imp.sources.len(), 18 + 2);
    assert_eq!(imp.tensors.len(), 18 + 2);
    let n: usize = imp.tensors.iter().map(|t| t.2.len()).sum();
    assert_eq!(n, 181_408 + 128 * 128 + 128);
    let means = imp.tensors.iter().find(|t| t.0 == "pca.means").unwrap();
    assert_eq!(means.1, vec![128]);
}

#[test]
fn mini_bundle_reproduces_pytorch() {
    let bundle = mini_bundle();
    assert_eq!(bundle.meta().model_kind, "vggish");
    assert_eq!(
        (
            bundle.meta().streaming.context_frames,
            bundle.meta().streaming.hop_frames
        ),
        (96, 96)
    );
    let net = Vggish::from_bundle(&bundle).unwrap();
    let (shape, input) = load("input.npy");
    assert_eq!(shape, vec![2, 96, 64]);
    let (_, emb_ref) = load("embedding.npy");
    let (_, pca_ref) = load("pca_applied.npy");
    let (_, post_ref) = load("postprocessed.npy");

    let x = Tensor::from_vec(input.clone(), (2, 1, 96, 64), &Device::Cpu).unwrap();
    let emb = net.forward(&x).unwrap();
    assert_eq!(emb.dims(), &[2, 128]);
    let emb = emb.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let d = max_abs_diff(&emb, &emb_ref);
    eprintln!("embedding max abs diff {d:e}");
    assert!(d <= 1e-4, "embedding max abs diff {d}");
    // The reference has exact zeros (ReLU) and values of order 1: not a trivial match.
    assert!(emb_ref.iter().any(|&v| v > 0.5));

    let post = net.postprocessor().unwrap();
    let pca: Vec<f32> = emb.chunks(128).flat_map(|e| post.pca(e)).collect();
    let d = max_abs_diff(&pca, &pca_ref);
    eprintln!("pca max abs diff {d:e}");
    assert!(d <= 1e-4, "pca max abs diff {d}");

    let q = net
        .forward_postprocessed(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(q, post_ref, "postprocessed bytes differ");
    assert!(q.contains(&0.0) || q.contains(&255.0));

    // One patch at a time (the streaming path, fc as matrix-vector products) agrees too.
    for p in 0..2 {
        let out = net
            .forward_frames(&input[p * 96 * 64..][..96 * 64], 96, 64)
            .unwrap();
        let d = max_abs_diff(&out.embedding, &emb_ref[p * 128..][..128]);
        assert!(d <= 1e-4, "patch {p}: embedding max abs diff {d}");
        assert_eq!(
            out.postprocessed.as_deref().unwrap(),
            &post_ref[p * 128..][..128]
        );
    }
    assert!(net.forward_frames(&input[..95 * 64], 95, 64).is_err());
}

// ---------------------------------------------------------------- error cases

type T = (String, Vec<usize>, Vec<f32>);

/// Writes a minimal PyTorch zip checkpoint (`torch.save` of a dict of float32 tensors:
/// `archive/data.pkl`, pickle protocol 2 with `torch._utils._rebuild_tensor_v2`, one
/// `archive/data/{i}` storage per tensor).
fn write_pth(path: &Path, tensors: &[T]) {
    fn unicode(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        p.push(b'J');
        p.extend((v as i32).to_le_bytes());
    }
    let mut p = vec![0x80, 2, b'}', b'('];
    for (i, (name, shape, _)) in tensors.iter().enumerate() {
        unicode(&mut p, name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.push(b'(');
        unicode(&mut p, "storage");
        p.extend(b"ctorch\nFloatStorage\n");
        unicode(&mut p, &i.to_string());
        unicode(&mut p, "cpu");
        int(&mut p, shape.iter().product());
        p.extend(b"tQ");
        int(&mut p, 0);
        p.push(b'(');
        for &s in shape {
            int(&mut p, s);
        }
        p.extend(b"t(");
        let mut stride = 1;
        let mut strides = vec![0; shape.len()];
        for (k, &s) in shape.iter().enumerate().rev() {
            strides[k] = stride;
            stride *= s;
        }
        for s in strides {
            int(&mut p, s);
        }
        p.push(b't');
        p.push(0x89);
        p.extend(b"ccollections\nOrderedDict\n)R");
        p.extend(b"tR");
    }
    p.extend(b"u.");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", opts).unwrap();
    zip.write_all(&p).unwrap();
    for (i, (_, _, data)) in tensors.iter().enumerate() {
        zip.start_file(format!("archive/data/{i}"), opts).unwrap();
        for v in data {
            zip.write_all(&v.to_le_bytes()).unwrap();
        }
    }
    zip.finish().unwrap();
}

/// The fixture's tensors, in key order.
fn fixture_tensors(name: &str) -> Vec<T> {
    let mut v: Vec<T> = candle_core::pickle::read_all(fixture(name))
        .unwrap()
        .into_iter()
        .map(|(n, t)| {
            let shape = t.dims().to_vec();
            (n, shape, t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chorder-vggish-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Writes `tensors` as a `.pth` and imports it as the model (PCA: the fixture's).
fn import_model(name: &str, tensors: &[T]) -> Result<VggishConfig, ImportError> {
    let p = tmp(name);
    write_pth(&p, tensors);
    import_torchvggish(&p, None).map(|i| i.config)
}

fn replace(mut v: Vec<T>, name: &str, shape: Vec<usize>) -> Vec<T> {
    let t = v.iter_mut().find(|t| t.0 == name).unwrap();
    t.2 = vec![0.5; shape.iter().product()];
    t.1 = shape;
    v
}

#[test]
fn written_pth_round_trips_through_the_importer() {
    // The writer above is what the error cases rely on: an unchanged copy must import to the
    // same network.
    let model = fixture_tensors("vggish_mini.pth");
    assert_eq!(model.len(), 18);
    let p = tmp("copy.pth");
    write_pth(&p, &model);
    let a = import_torchvggish(&p, None).unwrap();
    let b = import_torchvggish(&fixture("vggish_mini.pth"), None).unwrap();
    assert_eq!(a.config, b.config);
    assert_eq!(a.tensors, b.tensors);
    assert!(!a.config.postprocess);
}

#[test]
fn foreign_and_unreadable_files_are_rejected() {
    // A PCA file given as the model, and the model as the PCA file.
    let err = import_torchvggish(&fixture("pca_mini.pth"), None).unwrap_err();
    assert!(
        matches!(&err, ImportError::Missing { name, .. } if name == "features.0.weight"),
        "{err}"
    );
    assert!(err.to_string().contains("pca_eigen_vectors"), "{err}");
    let err = import_torchvggish(
        &fixture("vggish_mini.pth"),
        Some(&fixture("vggish_mini.pth")),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ImportError::Missing { name, .. } if name == "pca_eigen_vectors"),
        "{err}"
    );
    // Not a zip at all.
    let err = import_torchvggish(&fixture("input.npy"), None).unwrap_err();
    assert!(matches!(err, ImportError::Read { .. }), "{err}");
    let err = import_torchvggish(&fixture("no-such-file.pth"), None).unwrap_err();
    assert!(matches!(err, ImportError::Read { .. }), "{err}");
    // A legacy (torch < 1.6) file: pickled magic number first.
    let p = tmp("legacy.pth");
    let mut legacy = vec![0x80, 0x02, 0x8a, 0x0a];
    legacy.extend(0x1950a86a20f9469cfc6c_u128.to_le_bytes()[..10].iter());
    legacy.extend(b".\x80\x02M\xe9\x03.");
    std::fs::write(&p, &legacy).unwrap();
    let err = import_torchvggish(&p, None).unwrap_err();
    assert!(matches!(err, ImportError::Legacy { .. }), "{err}");
    assert!(err.to_string().contains("torch.save"), "{err}");
    // A foreign network's state_dict.
    let foreign = vec![
        ("conv1.weight".to_string(), vec![4, 1, 3, 3], vec![0.1; 36]),
        ("fc.weight".to_string(), vec![2, 4], vec![0.1; 8]),
    ];
    let err = import_model("foreign.pth", &foreign).unwrap_err();
    assert!(
        matches!(&err, ImportError::Missing { name, .. } if name == "features.0.weight"),
        "{err}"
    );
    assert!(err.to_string().contains("conv1.weight"), "{err}");
}

#[test]
fn incomplete_or_misshaped_state_dicts_are_rejected() {
    let model = fixture_tensors("vggish_mini.pth");

    let no_bias: Vec<T> = model
        .iter()
        .filter(|t| t.0 != "features.6.bias")
        .cloned()
        .collect();
    let err = import_model("no_bias.pth", &no_bias).unwrap_err();
    assert!(
        matches!(&err, ImportError::Missing { name, .. } if name == "features.6.bias"),
        "{err}"
    );

    // Input channels that do not chain: conv 3 reads 4 channels, conv 0 gives 8.
    let err = import_model(
        "chain.pth",
        &replace(model.clone(), "features.3.weight", vec![16, 4, 3, 3]),
    )
    .unwrap_err();
    match &err {
        ImportError::Shape {
            name,
            found,
            expected,
            ..
        } => {
            assert_eq!(name, "features.3.weight");
            assert_eq!(found, &vec![16, 4, 3, 3]);
            assert!(expected.contains("[C_out, 8, 3, 3]"), "{expected}");
        }
        other => panic!("expected a shape error, got {other}"),
    }

    // 5×5 kernels.
    let err = import_model(
        "kernel.pth",
        &replace(model.clone(), "features.0.weight", vec![8, 1, 5, 5]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ImportError::Shape { name, .. } if name == "features.0.weight"),
        "{err}"
    );

    // First fc does not take the 6×4×64 conv features.
    let err = import_model(
        "fc.pth",
        &replace(model.clone(), "embeddings.0.weight", vec![64, 1000]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ImportError::Shape { name, .. } if name == "embeddings.0.weight"),
        "{err}"
    );
    assert!(err.to_string().contains("6×4×64"), "{err}");

    // An extra tensor of some other network.
    let mut extra = model.clone();
    extra.push(("classifier.weight".into(), vec![2, 2], vec![0.0; 4]));
    let err = import_model("extra.pth", &extra).unwrap_err();
    assert!(matches!(err, ImportError::Structure { .. }), "{err}");
    assert!(err.to_string().contains("classifier.weight"), "{err}");

    // PCA matrix of the wrong size.
    let pca = fixture_tensors("pca_mini.pth");
    let p = tmp("pca_bad.pth");
    write_pth(
        &p,
        &replace(pca.clone(), "pca_eigen_vectors", vec![128, 64]),
    );
    let err = import_torchvggish(&fixture("vggish_mini.pth"), Some(&p)).unwrap_err();
    assert!(
        matches!(&err, ImportError::Shape { name, .. } if name == "pca_eigen_vectors"),
        "{err}"
    );
    // `[E]` means (as the published file may store them) are accepted.
    let p = tmp("pca_flat.pth");
    write_pth(&p, &replace(pca, "pca_means", vec![128]));
    let imp = import_torchvggish(&fixture("vggish_mini.pth"), Some(&p)).unwrap();
    assert!(imp.config.postprocess);
}
