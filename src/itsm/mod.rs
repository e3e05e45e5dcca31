//! ServiceNow and Jira write-back clients, the same shape as `orange/`.
//!
//! The dispatcher only sees [`ItsmWriter`]; the concrete clients are wired in `app.rs`.
//! NOTE: the clients land with the round-trip issue.

use async_trait::async_trait;

use crate::domain::{CallFailure, ItsmCall, TenantId};

/// What a successful write-back reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Fingerprints of what was written (e.g. `jira-comment:<id>`, a hash of a ServiceNow
    /// work note), remembered so the webhook the write triggers is dropped as an echo.
    pub echo_fingerprints: Vec<String>,
}

/// Carries out write-backs into a tenant's ITSM.
#[async_trait]
pub trait ItsmWriter: Send + Sync + 'static {
    async fn execute(&self, tenant: &TenantId, call: &ItsmCall) -> Result<Written, CallFailure>;
}
