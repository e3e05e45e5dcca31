//! What the poller needs of Orange and of the mappings, declared here where it is used:
//! `orange::OrangeClients` implements [`OrangeReader`], `app.rs` wires it; tests use fakes.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::{OrangeNote, ScanSupport, WayBackPlanner};
use crate::domain::{CallFailure, OrangeApi, SourceName, TenantId};

/// An Orange object that changed, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub id: String,
    /// `lastUpdateDate` (RFC 3339): the watermark is the largest one committed.
    pub last_update: String,
    pub status: Option<String>,
    pub object: Value,
    /// Notes, when the API embeds them in the object (trouble tickets); `None` = read them.
    pub notes: Option<Vec<OrangeNote>>,
}

/// The Orange reads the poller needs. `orange::OrangeClients` implements it; tests use fakes.
#[async_trait]
pub trait OrangeReader: Send + Sync + 'static {
    /// Objects of `api` for `tenant`, most recently updated first; only those updated at or
    /// after `since` when the API can filter (the poller stops at the watermark anyway).
    async fn changed_page(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        since: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<Changed>, CallFailure>;
    /// Notes of one object, oldest first.
    async fn notes(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        id: &str,
    ) -> Result<Vec<OrangeNote>, CallFailure>;
    /// One object (reconciliation); `None` when Orange no longer has it.
    async fn get(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        id: &str,
    ) -> Result<Option<Changed>, CallFailure>;
    /// Whether Orange honours the incremental scan's sort and range filter for `api`, found
    /// out with read-only calls.
    async fn scan_support(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
    ) -> Result<ScanSupport, CallFailure>;
}

/// Finds the way-back rules for a link's (tenant, source).
pub trait PlannerLookup: Send + Sync + 'static {
    fn planner(&self, tenant: &TenantId, source: &SourceName) -> Option<Arc<dyn WayBackPlanner>>;
}
