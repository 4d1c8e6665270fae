//! One instance per model content per process: the cache behind `Embedder::shared` and
//! `PopularityHead::shared`. Entries are weak, so a model is freed when its last user drops it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// A process-wide map from a bundle's content hash to the live instance built from it.
pub(crate) type SharedCache<T> = OnceLock<Mutex<HashMap<[u8; 32], Weak<T>>>>;

/// The live instance for `key`, or a new one from `make` (then remembered).
pub(crate) fn shared_by_hash<T, E>(
    cache: &'static SharedCache<T>,
    key: [u8; 32],
    make: impl FnOnce() -> Result<T, E>,
) -> Result<Arc<T>, E> {
    let mut map = cache
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(live) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(live);
    }
    let value = Arc::new(make()?);
    map.retain(|_, w| w.strong_count() > 0);
    map.insert(key, Arc::downgrade(&value));
    Ok(value)
}
