//! PostgreSQL store (placeholder until the store room lands).

use super::{StoreError, StoreResult};

/// The PostgreSQL implementation of [`super::Store`].
pub struct PgStore;

impl PgStore {
    /// Connects to a `postgres://` URL.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let _ = (url, max_connections);
        Err(StoreError::Unavailable(
            "PostgreSQL store not implemented yet".into(),
        ))
    }
}
