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
//! - `worker_impl.rs` and `poll_reader.rs`: the workers' traits (`worker::OrangeGateway`,
//!   `worker::OrangeReader`) over [`OrangeClients`]: what the dispatcher and the poller ask
//!   of Orange is declared where they use it and implemented here.
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
mod poll_reader;
pub mod probe;
pub mod reconcile;
pub mod tickets;
pub mod token;
pub mod transport;
pub mod wire;
mod worker_impl;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use client::{Executed, Filters, OrangeClient, Paths};
pub use guard::{CREATE_OUTCOME_UNKNOWN, CreateLookup};
pub use wire::Page;

use crate::config::{OrangeConfig, TenantConfig};
use crate::domain::TenantId;

#[derive(Debug, thiserror::Error)]
pub enum OrangeError {
    #[error("tenant {tenant}: Orange URL: {source}")]
    Url {
        tenant: String,
        source: url::ParseError,
    },
}

/// Every tenant's Orange client. Swappable while running ([`OrangeClients::update`]): a
/// reload of the tenants keeps the clients and credentials (with their cached tokens and
/// budgets) of what did not change, builds new ones for what did, and drops the removed.
pub struct OrangeClients {
    /// The `orange:` section: base URL, paths, timeouts, token and lookup settings.
    settings: OrangeConfig,
    /// Largest attachment copied from an ITSM to Orange (`delivery.max_attachment_bytes`).
    max_attachment_bytes: u64,
    inner: std::sync::RwLock<Clients>,
}

#[derive(Default)]
struct Clients {
    /// Each tenant's client and the fingerprint of the tenant config it was built from.
    by_tenant: HashMap<TenantId, (u64, Arc<OrangeClient>)>,
    /// Every distinct credential, to share their budgets among replicas.
    credentials: HashMap<CredentialKey, Arc<transport::Credential>>,
    /// The live replica count, for credentials built after it was set.
    replicas: u32,
}

/// A credential is shared by the tenants that use the same one: same base URL and client id,
/// and the same secrets and budget (a changed secret makes a new credential, whose token
/// cache starts empty).
#[derive(Clone, PartialEq, Eq, Hash)]
struct CredentialKey {
    base: String,
    client_id: String,
    settings: u64,
}

impl CredentialKey {
    fn of(base: &url::Url, o: &crate::config::OrangeCredentials) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (o.client_secret.expose(), o.api_key.expose()).hash(&mut h);
        (
            &o.application_id,
            o.rate_limit.per_second,
            o.rate_limit.burst,
        )
            .hash(&mut h);
        Self {
            base: base.to_string(),
            client_id: o.client_id.clone(),
            settings: h.finish(),
        }
    }
}

impl OrangeClients {
    /// Builds the clients of `tenants` (each from its `orange:` credentials, its ITSM for
    /// attachments and its language) over the `orange:` section's settings, copying
    /// attachments up to `max_attachment_bytes`.
    pub fn new(
        settings: &OrangeConfig,
        max_attachment_bytes: u64,
        tenants: &[TenantConfig],
    ) -> Result<Self, OrangeError> {
        let clients = Self {
            settings: settings.clone(),
            max_attachment_bytes,
            inner: std::sync::RwLock::default(),
        };
        clients.update(tenants)?;
        Ok(clients)
    }

    /// Brings the clients in line with `tenants`; on an error nothing changes.
    pub fn update(&self, tenants: &[TenantConfig]) -> Result<(), OrangeError> {
        let old = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut next = Clients {
            replicas: old.replicas,
            ..Clients::default()
        };
        for t in tenants {
            let base = t
                .orange
                .base_url
                .as_ref()
                .unwrap_or(&self.settings.base_url);
            let key = CredentialKey::of(base, &t.orange);
            let cred = match next
                .credentials
                .get(&key)
                .or_else(|| old.credentials.get(&key))
            {
                Some(c) => c.clone(),
                None => {
                    let c =
                        transport::Credential::new(&self.settings, &t.orange, base, t.id.as_str())
                            .map_err(|source| OrangeError::Url {
                                tenant: t.id.as_str().to_owned(),
                                source,
                            })?;
                    if old.replicas > 0 {
                        c.limiter.set_replicas(old.replicas);
                    }
                    Arc::new(c)
                }
            };
            next.credentials.insert(key, cred.clone());
            let fp = t.fingerprint();
            let client = match old.by_tenant.get(&t.id) {
                Some((f, c)) if *f == fp && Arc::ptr_eq(&c.cred, &cred) => c.clone(),
                _ => Arc::new(self.client_for(t, base, cred)),
            };
            next.by_tenant.insert(t.id.clone(), (fp, client));
        }
        drop(old);
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// Paces every credential at its share of the budget when `replicas` replicas are live.
    pub fn set_replicas(&self, replicas: u32) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.replicas = replicas;
        for c in inner.credentials.values() {
            c.limiter.set_replicas(replicas);
        }
    }

    pub fn get(&self, tenant: &TenantId) -> Option<Arc<OrangeClient>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.by_tenant.get(tenant).map(|(_, c)| c.clone())
    }
}

impl OrangeClients {
    fn client_for(
        &self,
        t: &TenantConfig,
        base: &url::Url,
        cred: Arc<transport::Credential>,
    ) -> OrangeClient {
        let o = &self.settings;
        OrangeClient {
            attachments: attachment::AttachmentSource {
                http: attachment::download_client(Duration::from_millis(o.timeout_ms)),
                itsm: t.itsm.clone(),
                max_bytes: self.max_attachment_bytes,
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
}

/// Builds the client of one tenant alone (the CLI), as [`OrangeClients::new`] does.
pub fn client_for_tenant(
    settings: &OrangeConfig,
    max_attachment_bytes: u64,
    tenant: &TenantConfig,
) -> Result<Option<Arc<OrangeClient>>, OrangeError> {
    let one = std::slice::from_ref(tenant);
    Ok(OrangeClients::new(settings, max_attachment_bytes, one)?.get(&tenant.id))
}

#[cfg(test)]
mod tests;
