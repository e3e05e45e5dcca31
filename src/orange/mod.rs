//! Orange API clients: one token source and one rate limiter per credential, one
//! classification of every outcome, and the calls of the four APIs (incident, trouble
//! ticket, core information, ordering).
//!
//! - [`token`]: OAuth v3 client credentials, cached, single-flight, budgeted.
//! - [`limiter`]: the credential's `governor` bucket and Orange-imposed pauses.
//! - [`transport`]: common headers, the exchange loop, 401 code 42 → refresh once.
//! - [`error`]: statuses, Orange error bodies and transport errors → `CallFailure`.
//! - [`client`]: [`OrangeClient`], one tenant's calls; [`wire`]: answer shapes.
//! - [`attachment`]: ITSM download → multipart upload; [`lookup`]: Core Information cache.
//! - [`browse`]: offset-paged collections read page by page or to the end; [`incidents`] and
//!   [`tickets`]: the Incident and Wholesale calls the command-line client adds (notes,
//!   attachments from a file, freeze periods, aggregation, service numbers, full search).
//! - [`guard`]: settles creates whose outcome was unknown, verified object by object;
//!   [`probe`]: read-only probes of the inferred list behaviours.
//!
//! Tenants that share a credential (same base URL and client id) share its token and its
//! bucket: the budget belongs to the credential, not to the tenant.

pub mod attachment;
pub mod browse;
pub mod client;
pub mod error;
pub mod guard;
pub mod incidents;
pub mod limiter;
pub mod lookup;
mod metrics;
pub mod probe;
pub mod reconcile;
pub mod tickets;
pub mod token;
pub mod transport;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use client::{Executed, Filters, OrangeClient, Paths};
pub use guard::{CREATE_OUTCOME_UNKNOWN, CreateLookup};
pub use wire::Page;

use async_trait::async_trait;

use crate::config::{Config, TenantConfig};
use crate::domain::{CallFailure, OrangeApi, OrangeCall, TenantId, Timestamp};

#[derive(Debug, thiserror::Error)]
pub enum OrangeError {
    #[error("tenant {tenant}: Orange URL: {source}")]
    Url {
        tenant: String,
        source: url::ParseError,
    },
}

/// Every tenant's Orange client.
#[derive(Clone, Default)]
pub struct OrangeClients {
    by_tenant: HashMap<TenantId, Arc<OrangeClient>>,
    /// Every distinct credential, to share their budgets among replicas.
    credentials: Vec<Arc<transport::Credential>>,
}

impl OrangeClients {
    pub fn from_config(config: &Config) -> Result<Self, OrangeError> {
        let mut creds: HashMap<(String, String), Arc<transport::Credential>> = HashMap::new();
        let mut by_tenant = HashMap::new();
        for t in &config.tenants {
            let base = t
                .orange
                .base_url
                .as_ref()
                .unwrap_or(&config.orange.base_url);
            let key = (base.to_string(), t.orange.client_id.clone());
            let cred = match creds.get(&key) {
                Some(c) => c.clone(),
                None => {
                    let c =
                        transport::Credential::new(&config.orange, &t.orange, base, t.id.as_str())
                            .map_err(|source| OrangeError::Url {
                                tenant: t.id.as_str().to_owned(),
                                source,
                            })?;
                    let c = Arc::new(c);
                    creds.insert(key, c.clone());
                    c
                }
            };
            by_tenant.insert(t.id.clone(), Arc::new(client_for(config, t, base, cred)));
        }
        Ok(Self {
            by_tenant,
            credentials: creds.into_values().collect(),
        })
    }

    /// Paces every credential at its share of the budget when `replicas` replicas are live.
    pub fn set_replicas(&self, replicas: u32) {
        for c in &self.credentials {
            c.limiter.set_replicas(replicas);
        }
    }

    pub fn get(&self, tenant: &TenantId) -> Option<Arc<OrangeClient>> {
        self.by_tenant.get(tenant).cloned()
    }
}

/// What the dispatcher needs of Orange, per tenant; [`OrangeClients`] is the real one,
/// tests use fakes.
#[async_trait]
pub trait OrangeGateway: Send + Sync + 'static {
    async fn execute(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: Option<&str>,
    ) -> Result<Executed, CallFailure>;
    /// Settles a create carrying `external_ref` whose outcome is unknown, verified object by
    /// object (see `guard.rs`); no send of it happened before `sent_after`.
    async fn find_created(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        external_ref: &str,
        sent_after: Timestamp,
    ) -> Result<CreateLookup, CallFailure>;
    /// Whether a non-create `call` is already reflected on the linked object `linked`.
    async fn already_applied(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: &str,
    ) -> Result<bool, CallFailure>;
    /// How long a call for `tenant` would wait for its credential's budget right now.
    fn expected_wait(&self, tenant: &TenantId) -> Duration;
    /// How long to put off a call for `tenant` that would wait too long: until `lead` before
    /// its turn in the credential's budget, which the deferral books (see
    /// `CredentialLimiter::defer_for`).
    fn defer_for(&self, tenant: &TenantId, lead: Duration) -> Duration;
}

fn no_client(tenant: &TenantId) -> CallFailure {
    error::permanent(format!("no Orange credentials for tenant {tenant}"))
}

#[async_trait]
impl OrangeGateway for OrangeClients {
    async fn execute(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: Option<&str>,
    ) -> Result<Executed, CallFailure> {
        let c = self.get(tenant).ok_or_else(|| no_client(tenant))?;
        c.execute(call, linked).await
    }
    async fn find_created(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        external_ref: &str,
        sent_after: Timestamp,
    ) -> Result<CreateLookup, CallFailure> {
        let c = self.get(tenant).ok_or_else(|| no_client(tenant))?;
        c.find_created(api, external_ref, sent_after).await
    }
    async fn already_applied(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: &str,
    ) -> Result<bool, CallFailure> {
        let c = self.get(tenant).ok_or_else(|| no_client(tenant))?;
        c.already_applied(call, linked).await
    }
    fn expected_wait(&self, tenant: &TenantId) -> Duration {
        self.by_tenant
            .get(tenant)
            .map(|c| c.cred.limiter.expected_wait())
            .unwrap_or_default()
    }
    fn defer_for(&self, tenant: &TenantId, lead: Duration) -> Duration {
        self.by_tenant
            .get(tenant)
            .map(|c| c.cred.limiter.defer_for(lead))
            .unwrap_or_default()
    }
}

fn client_for(
    config: &Config,
    t: &TenantConfig,
    base: &url::Url,
    cred: Arc<transport::Credential>,
) -> OrangeClient {
    let o = &config.orange;
    OrangeClient {
        attachments: attachment::AttachmentSource {
            http: attachment::download_client(Duration::from_millis(o.timeout_ms)),
            itsm: t.itsm.clone(),
            max_bytes: config.delivery.max_attachment_bytes,
        },
        cred,
        base: base.clone(),
        paths: Paths {
            incident: o.incident_path.clone(),
            trouble_ticket: o.trouble_ticket_path.clone(),
            core_information: o.core_information_path.clone(),
            ordering: o.ordering_path.clone(),
        },
        language: t.accept_language.clone(),
        lookups: lookup::LookupCache::new(Duration::from_secs(o.lookup_cache_secs)),
        inferred: o.inferred.clone(),
    }
}

/// Builds the client of one tenant alone (the CLI).
pub fn client_for_tenant(
    config: &Config,
    tenant: &TenantId,
) -> Result<Option<Arc<OrangeClient>>, OrangeError> {
    Ok(OrangeClients::from_config(config)?.get(tenant))
}

#[cfg(test)]
mod tests;
