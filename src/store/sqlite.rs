//! SQLite store (placeholder until the store room lands).

use super::{StoreError, StoreResult};

/// The SQLite implementation of [`super::Store`].
pub struct SqliteStore;

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://PATH` URL.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        let _ = (url, max_connections);
        Err(StoreError::Unavailable(
            "SQLite store not implemented yet".into(),
        ))
    }
}
