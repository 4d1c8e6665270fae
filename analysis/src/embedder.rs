//! [`Embedder`]: a patch of log-mel frames in, one window embedding and tag probabilities out.
//!
//! One `Embedder` per embedding bundle per process: [`Embedder::shared`] hands out the same
//! `Arc` to every caller (plugin instances, worker threads) while any of them holds it.

use std::sync::Arc;

use chorder_engine::{FrontEndConfig, LogMelPatch};
use chorder_models::bundle::{hex, BundleError, ModelBundle};
use chorder_models::musicnn::Musicnn;
use chorder_models::vggish::Vggish;

use crate::shared::{shared_by_hash, SharedCache};

/// What the embedding network says about one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEmbedding {
    /// The embedding, `[dim]`: musicnn `penultimate` (200); VGGish the postprocessed
    /// embedding (128 values in 0..=255) when the bundle has the PCA, else the raw one (128).
    pub embedding: Vec<f32>,
    /// Tag probabilities in \[0, 1\], `[n_tags]` (50 MSD tags for musicnn, none for VGGish),
    /// names in [`Embedder::tag_names`].
    pub tags: Vec<f32>,
}

/// The embedding network of a bundle with its front end and tag names.
pub struct Embedder {
    bundle: Arc<ModelBundle>,
    net: Net,
    id: String,
}

/// The networks an embedding bundle may hold.
enum Net {
    Musicnn(Musicnn),
    Vggish(Vggish),
}

impl Embedder {
    /// Builds the network of an embedding bundle (kind `musicnn` or `vggish`).
    pub fn new(bundle: Arc<ModelBundle>) -> Result<Self, BundleError> {
        let net = match bundle.meta().model_kind.as_str() {
            chorder_models::vggish::MODEL_KIND => Net::Vggish(Vggish::from_bundle(&bundle)?),
            _ => Net::Musicnn(Musicnn::from_bundle(&bundle)?),
        };
        let id = format!(
            "{}-{}",
            bundle.meta().model_kind,
            &hex(&bundle.content_sha256())[..16]
        );
        Ok(Self { bundle, net, id })
    }

    /// The process-wide instance for `bundle` (same content → same `Arc`).
    pub fn shared(bundle: Arc<ModelBundle>) -> Result<Arc<Self>, BundleError> {
        static CACHE: SharedCache<Embedder> = SharedCache::new();
        shared_by_hash(&CACHE, bundle.content_sha256(), || Self::new(bundle))
    }

    /// A short stable id: model kind and the first 16 hex digits of the bundle's sha256.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The bundle the network came from.
    pub fn bundle(&self) -> &Arc<ModelBundle> {
        &self.bundle
    }

    /// The front end whose patches the network expects.
    pub fn front_end(&self) -> &FrontEndConfig {
        &self.bundle.meta().front_end
    }

    /// Tag names, in the order of [`WindowEmbedding::tags`].
    pub fn tag_names(&self) -> &[String] {
        &self.bundle.meta().tags
    }

    /// Embedding size.
    pub fn dim(&self) -> usize {
        let m = self.bundle.meta();
        m.output("penultimate")
            .or_else(|| m.output("embedding"))
            .map_or(200, |o| o.size)
    }

    /// Runs the network on one patch.
    pub fn embed(&self, patch: &LogMelPatch) -> candle_core::Result<WindowEmbedding> {
        Ok(match &self.net {
            Net::Musicnn(net) => {
                let out = net.forward_patch(patch)?;
                WindowEmbedding {
                    embedding: out.penultimate,
                    tags: out.tags,
                }
            }
            Net::Vggish(net) => {
                let out = net.forward_patch(patch)?;
                WindowEmbedding {
                    embedding: out.postprocessed.unwrap_or(out.embedding),
                    tags: Vec::new(),
                }
            }
        })
    }
}
