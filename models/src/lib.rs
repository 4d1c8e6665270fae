//! Chorder's networks and model bundles (skeleton: the embedding models, autoencoders and
//! regressors land here; see issues on embeddings and training).
