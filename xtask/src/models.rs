//! Loading model bundles for the commands: a path, or the built-in default.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chorder_models::bundle::ModelBundle;

/// The embedding bundle at `path`, or the built-in MSD musicnn when `None`.
pub fn load_embedding_bundle(path: Option<&Path>) -> anyhow::Result<Arc<ModelBundle>> {
    match path {
        Some(p) => {
            ModelBundle::load_file(p).with_context(|| format!("cannot load model {}", p.display()))
        }
        None => Ok(chorder_models::builtin::musicnn_bundle()?),
    }
}

/// The popularity bundle at `path`, or the built-in demo head when `None`.
pub fn load_popularity_bundle(path: Option<&Path>) -> anyhow::Result<Arc<ModelBundle>> {
    match path {
        Some(p) => {
            ModelBundle::load_file(p).with_context(|| format!("cannot load model {}", p.display()))
        }
        None => Ok(chorder_models::builtin::demo_popularity_bundle()?),
    }
}
