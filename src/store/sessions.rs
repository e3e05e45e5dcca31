//! Console sessions as the store keeps them (`SessionStore`): one row per signed-in browser,
//! shared by every replica on the database, keyed by a digest of the session id — the id in
//! the browser's cookie and the token that signed in are never stored.

use crate::domain::{TenantId, Timestamp};

/// A signed-in console browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 (hex) of the session id; the caller computes it, the store only compares.
    pub id_hash: String,
    /// The token's name (`admin` for `admin.token`).
    pub principal: String,
    /// `viewer` or `operator`, as the token had it at sign-in.
    pub role: String,
    /// The tenants the token saw at sign-in; `None`: every tenant.
    pub tenants: Option<Vec<TenantId>>,
    /// Every form of the session carries it back.
    pub csrf: String,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
    /// The session ends then, unless a request moves it on.
    pub expires_at: Timestamp,
}

macro_rules! session_cols {
    () => {
        "id_hash, principal, role, tenants, csrf, created_at, last_seen, expires_at"
    };
}
pub(crate) use session_cols;

/// A `console_sessions` row as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id_hash: String,
    principal: String,
    role: String,
    tenants: Option<String>,
    csrf: String,
    created_at: i64,
    last_seen: i64,
    expires_at: i64,
}

impl TryFrom<SessionRow> for ConsoleSession {
    type Error = super::StoreError;
    fn try_from(r: SessionRow) -> Result<Self, Self::Error> {
        let corrupt = |e: String| super::StoreError::Corrupt(format!("console session: {e}"));
        let tenants = match r.tenants {
            None => None,
            Some(j) => {
                let names: Vec<String> =
                    serde_json::from_str(&j).map_err(|e| corrupt(e.to_string()))?;
                let ids = names
                    .into_iter()
                    .map(TenantId::parse)
                    .collect::<Result<_, _>>();
                Some(ids.map_err(|e| corrupt(e.to_string()))?)
            }
        };
        Ok(ConsoleSession {
            id_hash: r.id_hash,
            principal: r.principal,
            role: r.role,
            tenants,
            csrf: r.csrf,
            created_at: super::codec::ts(r.created_at)?,
            last_seen: super::codec::ts(r.last_seen)?,
            expires_at: super::codec::ts(r.expires_at)?,
        })
    }
}

/// The `tenants` column of a session: a JSON array of tenant ids, NULL for every tenant.
pub(crate) fn tenants_column(tenants: Option<&[TenantId]>) -> Option<String> {
    tenants.map(|ts| {
        serde_json::json!(ts.iter().map(TenantId::as_str).collect::<Vec<_>>()).to_string()
    })
}
