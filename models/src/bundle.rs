//! The one model-bundle format for every Chorder model, and its in-process cache.
//!
//! A bundle is a single [safetensors](https://github.com/huggingface/safetensors) file:
//! - tensors: `f32`, little-endian, named by the model's own scheme (e.g.
//!   `frontend.timbral_74.kernel`), already in the layout the model's kernels use;
//! - `__metadata__["chorder"]`: a JSON string, [`BundleMeta`]: format version, model kind and
//!   config, the front end ([`FrontEndConfig`]) the model expects, the streaming contract,
//!   output names/sizes, tag names, provenance (source, sha256, source tensors), licence, and
//!   the sha256 of the tensor data section (so a flipped byte is caught at load).
//!
//! [`ModelBundle::load_bytes`] / [`ModelBundle::load_file`] validate everything and share
//! loaded bundles through an [`Arc`] cache keyed by the sha256 of the file's bytes: loading
//! the same bytes twice while the first bundle is alive returns the same allocation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use chorder_engine::FrontEndConfig;
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the bundle layout this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Key of the `__metadata__` entry holding [`BundleMeta`] as a JSON string.
pub const METADATA_KEY: &str = "chorder";

/// Everything a bundle says about itself (stored as JSON in `__metadata__["chorder"]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleMeta {
    /// Must equal [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Which network the tensors belong to (`"musicnn"`, ...).
    pub model_kind: String,
    /// The network's hyper-parameters; the model's loader deserialises it into its own type.
    pub model_config: serde_json::Value,
    /// The front end that turns audio into the model's log-mel input.
    pub front_end: FrontEndConfig,
    /// How patches are fed to the model while streaming.
    pub streaming: StreamingContract,
    /// What one forward pass on one patch produces, in order.
    pub outputs: Vec<OutputSpec>,
    /// Tag names in output order (empty for models without tags).
    pub tags: Vec<String>,
    /// Where the weights came from and how they were converted.
    pub provenance: Provenance,
    /// Licence of the weights.
    pub licence: Licence,
    /// Lower-case hex sha256 of the safetensors data section (all tensor bytes); filled in by
    /// [`write_bundle`], checked at load.
    #[serde(default)]
    pub data_sha256: String,
    /// Split-conformal calibration of a popularity model (held-out residuals and interval
    /// half-widths, 0-100 scale); absent for other models and for uncalibrated bundles
    /// (bundles written before the field existed load as uncalibrated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibration::ConformalCalibration>,
    /// How a trained model was trained and how it did on held-out data; absent for
    /// imported models (their `provenance` says where they come from) and for bundles
    /// written before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingRecord>,
}

/// The training record of a model bundle written by `chorder-train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Id of the embedding bundle whose window embeddings the model was trained on (e.g.
    /// `musicnn-9343a77f6b2642bb`); its front end is the bundle's `front_end`.
    pub embedding_model: String,
    /// What the single output means and how it is scaled.
    pub target: String,
    /// The run configuration as the trainer used it (JSON, sizes fitted to the data).
    pub run_config: serde_json::Value,
    /// Songs in the training, validation and test splits.
    pub split_sizes: [usize; 3],
    /// Every training stage, in order.
    pub stages: Vec<StageRecord>,
    /// Metrics on the held-out test split, popularity points (0-100 scale).
    pub test: Option<HeldOutMetrics>,
}

/// One training stage of a [`TrainingRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Stage name (`seq_autoencoder`, `feature_autoencoder`, `regressor`, ...).
    pub name: String,
    /// Epochs run.
    pub epochs: usize,
    /// 0-based epoch whose weights were kept.
    pub best_epoch: usize,
    /// The monitored value (validation loss or MAE, or training loss) at that epoch.
    pub best_monitored: f64,
    /// Whether early stopping ended the stage.
    pub stopped_early: bool,
}

/// Held-out metrics of a [`TrainingRecord`], popularity points (0-100 scale).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeldOutMetrics {
    /// Songs.
    pub n: usize,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean squared error (points²).
    pub mse: f64,
    /// Coefficient of determination.
    pub r2: f64,
}

/// How the model consumes the log-mel stream: every `hop_frames` frames, one patch of the
/// last `context_frames` frames (frames at the front end's hop; musicnn: 187 and 60).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamingContract {
    /// Frames in a full patch.
    pub context_frames: usize,
    /// Frames between the ends of consecutive patches.
    pub hop_frames: usize,
    /// What happens before `context_frames` frames exist.
    pub first_window: FirstWindow,
}

impl StreamingContract {
    /// The contract a front end's patch settings imply: same context and hop (in frames), a
    /// partial first window when the front end emits patches before the context is full.
    pub fn from_patch(patch: &chorder_engine::config::PatchConfig) -> Self {
        Self {
            context_frames: patch.context_frames,
            hop_frames: patch.hop_frames,
            first_window: if patch.partial_warmup {
                FirstWindow::Partial
            } else {
                FirstWindow::Full
            },
        }
    }
}

/// Behaviour at the start of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstWindow {
    /// Patches are emitted from `hop_frames` on, holding all frames so far (fewer than
    /// `context_frames` until the context fills).
    Partial,
    /// The first patch waits for a full context.
    Full,
}

/// One named output of a forward pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Name (`"penultimate"`, `"tags"`, ...).
    pub name: String,
    /// Values per patch.
    pub size: usize,
    /// What the values are (units, activation).
    pub description: String,
}

/// Where the weights came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Source artefact (e.g. `musicnn-0.1.0-py3-none-any.whl` from PyPI).
    pub source: String,
    /// Lower-case hex sha256 of the source artefact.
    pub source_sha256: String,
    /// Checkpoint inside the source (e.g. `musicnn/MSD_musicnn/`).
    pub checkpoint: String,
    /// Tool and procedure that wrote this bundle.
    pub converted_by: String,
    /// Source tensors read (inference tensors only), with their original shapes.
    pub tensors: Vec<SourceTensor>,
}

/// A tensor of the source checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTensor {
    /// Name in the source checkpoint.
    pub name: String,
    /// Shape in the source checkpoint.
    pub shape: Vec<usize>,
}

/// Licence of the weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    /// SPDX identifier (e.g. `ISC`).
    pub spdx: String,
    /// Full licence text including the copyright notice that must travel with the weights.
    pub text: String,
}

impl BundleMeta {
    /// The output named `name`.
    pub fn output(&self, name: &str) -> Option<&OutputSpec> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// Checks internal consistency (version, front end, streaming contract, outputs).
    pub fn validate(&self) -> Result<(), BundleError> {
        if self.format_version != FORMAT_VERSION {
            return Err(BundleError::UnsupportedVersion {
                found: self.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let invalid = |m: String| Err(BundleError::Invalid(m));
        if self.model_kind.is_empty() {
            return invalid("model_kind is empty".into());
        }
        self.front_end.validate().map_err(BundleError::Invalid)?;
        let s = self.streaming;
        let p = self.front_end.patch;
        let partial = s.first_window == FirstWindow::Partial;
        if s.context_frames != p.context_frames
            || s.hop_frames != p.hop_frames
            || partial != p.partial_warmup
        {
            return invalid(format!(
                "streaming contract {s:?} disagrees with the front end's patch config {p:?}"
            ));
        }
        if self.outputs.is_empty() || self.outputs.iter().any(|o| o.size == 0) {
            return invalid("outputs must be listed, each with a size > 0".into());
        }
        if let Some(t) = self.output("tags") {
            if t.size != self.tags.len() {
                return invalid(format!(
                    "output `tags` has {} values but {} tag names are listed",
                    t.size,
                    self.tags.len()
                ));
            }
        }
        if self.licence.spdx.is_empty() || self.licence.text.is_empty() {
            return invalid("licence must name an SPDX id and carry its text".into());
        }
        if let Some(c) = &self.calibration {
            c.validate().map_err(BundleError::Invalid)?;
        }
        Ok(())
    }
}

/// Why a bundle could not be loaded or written. Messages say what the file is instead.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a model bundle: not a safetensors file ({0})")]
    NotSafetensors(String),
    #[error("model bundle is truncated or incomplete ({len} bytes): {detail}")]
    Truncated { len: usize, detail: String },
    #[error("not a Chorder model bundle: a safetensors file without `{METADATA_KEY}` metadata")]
    NotChorder,
    #[error("model bundle metadata is unreadable: {0}")]
    BadMetadata(String),
    #[error("model bundle format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("model bundle is inconsistent: {0}")]
    Invalid(String),
    #[error("model bundle tensor `{name}` has dtype {dtype}; only F32 is supported")]
    Dtype { name: String, dtype: String },
    #[error(
        "model bundle tensor data is corrupt: sha256 {actual} but the metadata says {expected}"
    )]
    DataHash { expected: String, actual: String },
    #[error("model bundle holds a `{found}` model, expected `{expected}`")]
    WrongKind { expected: String, found: String },
    #[error("model bundle: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("cannot write model bundle: {0}")]
    Write(String),
}

/// A validated model bundle: metadata plus `f32` CPU tensors.
#[derive(Debug)]
pub struct ModelBundle {
    meta: BundleMeta,
    tensors: HashMap<String, Tensor>,
    content_sha256: [u8; 32],
}

fn cache() -> &'static Mutex<HashMap<[u8; 32], Weak<ModelBundle>>> {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], Weak<ModelBundle>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

impl ModelBundle {
    /// Loads a bundle from its bytes through the in-process cache: while a bundle with the
    /// same sha256 is alive, the same `Arc` is returned without parsing again.
    pub fn load_bytes(bytes: &[u8]) -> Result<Arc<Self>, BundleError> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = cache.get(&hash).and_then(Weak::upgrade) {
            return Ok(b);
        }
        let bundle = Arc::new(Self::parse_with_hash(bytes, hash)?);
        cache.retain(|_, w| w.strong_count() > 0);
        cache.insert(hash, Arc::downgrade(&bundle));
        Ok(bundle)
    }

    /// [`ModelBundle::load_bytes`] on a file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Arc<Self>, BundleError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::load_bytes(&bytes)
    }

    /// Parses and validates without the cache.
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        Self::parse_with_hash(bytes, Sha256::digest(bytes).into())
    }

    fn parse_with_hash(bytes: &[u8], content_sha256: [u8; 32]) -> Result<Self, BundleError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| classify(bytes, e))?;
        let (header_len, raw_meta) =
            SafeTensors::read_metadata(bytes).map_err(|e| classify(bytes, e))?;
        let json = raw_meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or(BundleError::NotChorder)?;
        // Read the version first so a future layout gets a version error, not a parse error.
        let version = serde_json::from_str::<serde_json::Value>(json)
            .map_err(|e| BundleError::BadMetadata(e.to_string()))?
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| BundleError::BadMetadata("no format_version".into()))?;
        if version != u64::from(FORMAT_VERSION) {
            return Err(BundleError::UnsupportedVersion {
                found: version as u32,
                supported: FORMAT_VERSION,
            });
        }
        let meta: BundleMeta =
            serde_json::from_str(json).map_err(|e| BundleError::BadMetadata(e.to_string()))?;
        meta.validate()?;
        let actual = hex(&Sha256::digest(&bytes[8 + header_len..]));
        if actual != meta.data_sha256 {
            return Err(BundleError::DataHash {
                expected: meta.data_sha256.clone(),
                actual,
            });
        }
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(BundleError::Dtype {
                    name,
                    dtype: format!("{:?}", view.dtype()),
                });
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let t = Tensor::from_vec(data, view.shape(), &Device::Cpu)?;
            tensors.insert(name, t);
        }
        Ok(Self {
            meta,
            tensors,
            content_sha256,
        })
    }

    /// The metadata.
    pub fn meta(&self) -> &BundleMeta {
        &self.meta
    }

    /// Tensors by name (`f32`, CPU).
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// A candle [`VarBuilder`] over the tensors, for a model's `load`.
    pub fn var_builder(&self) -> VarBuilder<'static> {
        VarBuilder::from_tensors(self.tensors.clone(), candle_core::DType::F32, &Device::Cpu)
    }

    /// sha256 of the whole file, the cache key.
    pub fn content_sha256(&self) -> [u8; 32] {
        self.content_sha256
    }

    /// Fails unless the bundle holds a `kind` model.
    pub fn expect_kind(&self, kind: &str) -> Result<(), BundleError> {
        if self.meta.model_kind != kind {
            return Err(BundleError::WrongKind {
                expected: kind.into(),
                found: self.meta.model_kind.clone(),
            });
        }
        Ok(())
    }
}

/// Tells a truncated bundle from bytes that were never a safetensors file.
fn classify(bytes: &[u8], e: SafeTensorError) -> BundleError {
    let looks_like_header = bytes.len() > 8 && bytes[8] == b'{';
    match e {
        SafeTensorError::HeaderTooSmall
        | SafeTensorError::InvalidHeaderLength
        | SafeTensorError::MetadataIncompleteBuffer
            if looks_like_header =>
        {
            BundleError::Truncated {
                len: bytes.len(),
                detail: e.to_string(),
            }
        }
        e => BundleError::NotSafetensors(e.to_string()),
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One tensor to write: name, shape, row-major `f32` values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Serialises a bundle: validates `meta`, fills in `data_sha256`, writes safetensors bytes.
pub fn write_bundle(meta: &BundleMeta, tensors: &[NamedTensor]) -> Result<Vec<u8>, BundleError> {
    meta.validate()?;
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            if shape.iter().product::<usize>() != data.len() {
                return Err(BundleError::Write(format!(
                    "tensor `{name}`: shape {shape:?} does not match {} values",
                    data.len()
                )));
            }
            Ok((
                name.clone(),
                shape.clone(),
                data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ))
        })
        .collect::<Result<_, _>>()?;
    let serialise = |meta: &BundleMeta| -> Result<Vec<u8>, BundleError> {
        let json = serde_json::to_string(meta).map_err(|e| BundleError::Write(e.to_string()))?;
        let views = bytes
            .iter()
            .map(|(n, s, b)| {
                Ok((
                    n.as_str(),
                    safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b)?,
                ))
            })
            .collect::<Result<Vec<_>, SafeTensorError>>()
            .map_err(|e| BundleError::Write(e.to_string()))?;
        safetensors::serialize(
            views,
            Some(HashMap::from([(METADATA_KEY.to_string(), json)])),
        )
        .map_err(|e| BundleError::Write(e.to_string()))
    };
    // The data section does not depend on the metadata: write once to hash it, then again
    // with the hash recorded.
    let mut meta = meta.clone();
    meta.data_sha256 = String::new();
    let first = serialise(&meta)?;
    let header_len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
    meta.data_sha256 = hex(&Sha256::digest(&first[8 + header_len..]));
    serialise(&meta)
}

/// Rewrites a bundle with edited metadata and the same tensors (same names, shapes and
/// values): parses and validates `bytes`, applies `edit` to its [`BundleMeta`], and writes
/// it again with [`write_bundle`] (which validates the edited metadata). Used to add a
/// calibration to a trained bundle.
pub fn rewrite_metadata(
    bytes: &[u8],
    edit: impl FnOnce(&mut BundleMeta),
) -> Result<Vec<u8>, BundleError> {
    let bundle = ModelBundle::parse(bytes)?;
    let mut names: Vec<&String> = bundle.tensors.keys().collect();
    names.sort();
    let tensors = names
        .into_iter()
        .map(|n| {
            let t = &bundle.tensors[n];
            Ok((
                n.clone(),
                t.dims().to_vec(),
                t.flatten_all()?.to_vec1::<f32>()?,
            ))
        })
        .collect::<Result<Vec<NamedTensor>, candle_core::Error>>()?;
    let mut meta = bundle.meta.clone();
    edit(&mut meta);
    write_bundle(&meta, &tensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorder_engine::FrontEndConfig;

    fn meta() -> BundleMeta {
        BundleMeta {
            format_version: FORMAT_VERSION,
            model_kind: "toy".into(),
            model_config: serde_json::json!({"width": 3}),
            front_end: FrontEndConfig::musicnn(),
            streaming: StreamingContract {
                context_frames: 187,
                hop_frames: 60,
                first_window: FirstWindow::Partial,
            },
            outputs: vec![OutputSpec {
                name: "tags".into(),
                size: 2,
                description: "sigmoid".into(),
            }],
            tags: vec!["a".into(), "b".into()],
            provenance: Provenance {
                source: "test".into(),
                source_sha256: "00".into(),
                checkpoint: "none".into(),
                converted_by: "unit test".into(),
                tensors: vec![],
            },
            licence: Licence {
                spdx: "MIT".into(),
                text: "permission granted".into(),
            },
            data_sha256: String::new(),
            calibration: None,
            training: None,
        }
    }

    fn tensors() -> Vec<NamedTensor> {
        vec![
            ("w".into(), vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]),
            ("b".into(), vec![2], vec![0.5, -0.25]),
        ]
    }

    #[test]
    fn round_trip_keeps_metadata_and_values() {
        let bytes = write_bundle(&meta(), &tensors()).unwrap();
        let b = ModelBundle::parse(&bytes).unwrap();
        let mut expect = meta();
        expect.data_sha256 = b.meta().data_sha256.clone();
        assert_eq!(b.meta(), &expect);
        assert_eq!(b.meta().data_sha256.len(), 64);
        let w = b.tensors()["w"].to_vec2::<f32>().unwrap();
        assert_eq!(w, vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, -6.5]]);
        assert_eq!(b.tensors()["b"].to_vec1::<f32>().unwrap(), vec![0.5, -0.25]);
        b.expect_kind("toy").unwrap();
        assert!(matches!(
            b.expect_kind("musicnn"),
            Err(BundleError::WrongKind { .. })
        ));
    }

    #[test]
    fn calibration_round_trips_and_is_optional() {
        use crate::calibration::ConformalCalibration;
        // Without calibration the JSON has no `calibration` key (older readers and bundles
        // written before the field are unaffected).
        let plain = serde_json::to_value(meta()).unwrap();
        assert!(plain.get("calibration").is_none());
        let mut m = meta();
        m.calibration = Some(
            ConformalCalibration::from_residuals(&[4.0, 1.0, 3.0, 2.0], &[0.5, 0.8], "val")
                .unwrap(),
        );
        let b = ModelBundle::parse(&write_bundle(&m, &tensors()).unwrap()).unwrap();
        let c = b.meta().calibration.as_ref().unwrap();
        // n = 4: c = 0.5 → rank ceil(2.5) = 3; c = 0.8 → ceil(4.0) = 4.
        assert_eq!(
            (c.n, c.half_width(0.5), c.half_width(0.8)),
            (4, Some(3.0), Some(4.0))
        );
        // Adding it to a written bundle keeps the tensor data byte for byte.
        let original = write_bundle(&meta(), &tensors()).unwrap();
        let cal = m.calibration.clone();
        let rewritten = rewrite_metadata(&original, |x| x.calibration = cal.clone()).unwrap();
        let r = ModelBundle::parse(&rewritten).unwrap();
        assert_eq!(r.meta().calibration, cal);
        assert_eq!(
            r.meta().data_sha256,
            ModelBundle::parse(&original).unwrap().meta().data_sha256
        );
        m.calibration.as_mut().unwrap().n = 0;
        assert!(matches!(
            write_bundle(&m, &tensors()),
            Err(BundleError::Invalid(_))
        ));
    }

    #[test]
    fn cache_shares_identical_bytes() {
        let bytes = write_bundle(&meta(), &tensors()).unwrap();
        let a = ModelBundle::load_bytes(&bytes).unwrap();
        let b = ModelBundle::load_bytes(&bytes).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let mut m = meta();
        m.model_kind = "other".into();
        let c = ModelBundle::load_bytes(&write_bundle(&m, &tensors()).unwrap()).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_ne!(a.content_sha256(), c.content_sha256());
    }

    #[test]
    fn random_bytes_are_rejected() {
        let junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let err = ModelBundle::parse(&junk).unwrap_err();
        assert!(matches!(err, BundleError::NotSafetensors(_)), "{err}");
        let err = ModelBundle::parse(b"hi").unwrap_err();
        assert!(matches!(err, BundleError::NotSafetensors(_)), "{err}");
    }

    #[test]
    fn foreign_safetensors_is_rejected() {
        let data = [1u8, 0, 0, 0];
        let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &data).unwrap();
        let plain = safetensors::serialize([("x", view.clone())], None).unwrap();
        let err = ModelBundle::parse(&plain).unwrap_err();
        assert!(matches!(err, BundleError::NotChorder), "{err}");
        let other = safetensors::serialize(
            [("x", view)],
            Some(HashMap::from([("format".to_string(), "pt".to_string())])),
        )
        .unwrap();
        assert!(matches!(
            ModelBundle::parse(&other),
            Err(BundleError::NotChorder)
        ));
    }

    #[test]
    fn truncated_file_is_rejected() {
        let bytes = write_bundle(&meta(), &tensors()).unwrap();
        for keep in [bytes.len() - 1, bytes.len() - 10, 40] {
            let err = ModelBundle::parse(&bytes[..keep]).unwrap_err();
            assert!(
                matches!(err, BundleError::Truncated { .. }),
                "keep {keep}: {err}"
            );
        }
    }

    #[test]
    fn wrong_format_version_is_rejected() {
        let mut m = meta();
        m.format_version = FORMAT_VERSION + 1;
        assert!(matches!(
            write_bundle(&m, &tensors()),
            Err(BundleError::UnsupportedVersion { .. })
        ));
        // Forge a file from the future by hand (the writer refuses to).
        let json = serde_json::to_string(&m).unwrap();
        let data = [0u8; 4];
        let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &data).unwrap();
        let bytes = safetensors::serialize(
            [("x", view)],
            Some(HashMap::from([(METADATA_KEY.to_string(), json)])),
        )
        .unwrap();
        match ModelBundle::parse(&bytes).unwrap_err() {
            BundleError::UnsupportedVersion { found, supported } => {
                assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
            }
            other => panic!("expected a version error, got {other}"),
        }
    }

    #[test]
    fn flipped_data_byte_fails_the_data_hash() {
        let mut bytes = write_bundle(&meta(), &tensors()).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0x10;
        let err = ModelBundle::parse(&bytes).unwrap_err();
        assert!(matches!(err, BundleError::DataHash { .. }), "{err}");
    }

    #[test]
    fn inconsistent_metadata_is_rejected() {
        let mut m = meta();
        m.streaming.hop_frames = 61;
        assert!(matches!(
            write_bundle(&m, &tensors()),
            Err(BundleError::Invalid(_))
        ));
        let mut m = meta();
        m.tags.pop();
        assert!(matches!(
            write_bundle(&m, &tensors()),
            Err(BundleError::Invalid(_))
        ));
    }
}
