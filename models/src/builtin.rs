//! Model bundles compiled into the binary (`include_bytes!`), shared through the bundle cache.
//!
//! - [`MSD_MUSICNN`]: musicnn trained on the Million Song Dataset (`musicnn==0.1.0`
//!   `MSD_musicnn`, ISC licence, see `models/assets/README.md`), written by
//!   `cargo xtask import-weights musicnn`.

use std::sync::Arc;

use crate::bundle::{BundleError, ModelBundle};
use crate::musicnn::Musicnn;

/// The demo popularity head (`chorder_popularity`), trained by `cargo xtask train --preset demo`
/// on the generated corpus with MSD musicnn embeddings: a demonstration of the pipeline, not a
/// predictor of real popularity (see `models/assets/README.md`).
pub static DEMO_POPULARITY: &[u8] = include_bytes!("../assets/demo_popularity.safetensors");

/// The built-in demo popularity bundle (parsed once per process while any holder keeps it).
pub fn demo_popularity_bundle() -> Result<Arc<ModelBundle>, BundleError> {
    ModelBundle::load_bytes(DEMO_POPULARITY)
}

/// The MSD musicnn bundle file's bytes (safetensors, ~3.1 MB).
pub static MSD_MUSICNN: &[u8] = include_bytes!("../assets/msd_musicnn.safetensors");

/// The built-in musicnn bundle (parsed once per process while any holder keeps it alive).
pub fn musicnn_bundle() -> Result<Arc<ModelBundle>, BundleError> {
    ModelBundle::load_bytes(MSD_MUSICNN)
}

/// The built-in musicnn network, ready to run on log-mel patches of the musicnn front end.
pub fn musicnn() -> Result<Musicnn, BundleError> {
    let bundle = musicnn_bundle()?;
    Musicnn::from_bundle(&bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_musicnn_loads_with_its_contract() {
        let b = musicnn_bundle().unwrap();
        assert!(Arc::ptr_eq(&b, &musicnn_bundle().unwrap()));
        let m = b.meta();
        assert_eq!(m.model_kind, "musicnn");
        assert_eq!(m.front_end, chorder_engine::FrontEndConfig::musicnn());
        assert_eq!(
            (m.streaming.context_frames, m.streaming.hop_frames),
            (187, 60)
        );
        assert_eq!(m.tags.len(), 50);
        assert_eq!(m.tags[0], "rock");
        assert_eq!(m.output("penultimate").unwrap().size, 200);
        assert_eq!(m.provenance.tensors.len(), 64);
        assert!(m.licence.text.contains("Music Technology Group"));
        let net = musicnn().unwrap();
        let out = net.forward_frames(&vec![2.0; 60 * 96], 60, 96).unwrap();
        assert_eq!(
            (
                out.penultimate.len(),
                out.max_pool.len(),
                out.mean_pool.len(),
                out.tags.len()
            ),
            (200, 753, 753, 50)
        );
    }
}
