//! Chorder's networks and model bundles (skeleton: the embedding models, autoencoders and
//! regressors land here; see issues on embeddings and training).

// Popularity networks (issue 6): layers, autoencoders, regressors, baseline.
pub mod feature_autoencoder;
pub mod hitmusicnet;
pub mod init;
pub mod lstm;
pub mod mlp;
pub mod regressor;
pub mod seq_autoencoder;
