//! ServiceNow and Jira write-back clients, the same shape as `orange/`.
//!
//! The workers only see the traits they declare (`worker::ItsmWriter` for write-backs,
//! `worker::JiraSearch` and `worker::ServicenowTable` for reconciliation's reads);
//! [`ItsmClients`] implements them (`worker_impl.rs`) and is what `app.rs` wires: one
//! [`servicenow::ServicenowClient`] and/or [`jira::JiraClient`] per tenant, each with the
//! tenant's own credentials and rate budget (tenants never share either).
//! Retries and dead letters are the dispatcher's: a client makes one attempt and classifies
//! its failure with the shared [`crate::domain::FailureClass`]. Rate limits too: the
//! dispatcher books a write-back's requests from the tenant's budget (`ItsmWriter::reserve`,
//! `budget.rs`) and puts it off when there is no room, so no write-back waits for its budget
//! inside a dispatcher slot.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::config::TenantConfig;
use crate::domain::TenantId;

pub mod budget;
pub mod jira;
pub mod servicenow;
mod wire;
mod worker_impl;

#[derive(Default)]
struct TenantItsm {
    servicenow: Option<Arc<servicenow::ServicenowClient>>,
    jira: Option<Arc<jira::JiraClient>>,
}

/// The write-back clients of every tenant in the config. Swappable while running
/// ([`ItsmClients::update`]): an unchanged tenant keeps its clients and their budgets.
pub struct ItsmClients {
    http: reqwest::Client,
    /// Each tenant's clients and the fingerprint of the tenant config they were built from.
    tenants: RwLock<HashMap<TenantId, (u64, Arc<TenantItsm>)>>,
}

impl ItsmClients {
    /// Builds the clients of each tenant's `itsm:` section over one shared HTTP client.
    pub fn new(http: reqwest::Client, tenants: &[TenantConfig]) -> Self {
        let clients = Self {
            http,
            tenants: RwLock::default(),
        };
        clients.update(tenants);
        clients
    }

    /// Brings the clients in line with `tenants`: new and changed tenants get new clients,
    /// removed ones lose theirs.
    pub fn update(&self, tenants: &[TenantConfig]) {
        let mut built = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        let next = tenants
            .iter()
            .map(|t| {
                let fp = t.fingerprint();
                let clients = match built.get(&t.id) {
                    Some((f, c)) if *f == fp => c.clone(),
                    _ => Arc::new(TenantItsm {
                        servicenow: t.itsm.servicenow.clone().map(|s| {
                            Arc::new(servicenow::ServicenowClient::new(self.http.clone(), s))
                        }),
                        jira: t
                            .itsm
                            .jira
                            .clone()
                            .map(|j| Arc::new(jira::JiraClient::new(self.http.clone(), j))),
                    }),
                };
                (t.id.clone(), (fp, clients))
            })
            .collect();
        *built = next;
    }

    fn tenant(&self, tenant: &TenantId) -> Option<Arc<TenantItsm>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants.get(tenant).map(|(_, c)| c.clone())
    }

    /// The tenant's Jira client, for reads (ITSM-side reconciliation).
    pub fn jira(&self, tenant: &TenantId) -> Option<Arc<jira::JiraClient>> {
        self.tenant(tenant).and_then(|t| t.jira.clone())
    }

    /// The tenant's ServiceNow client, for reads (ITSM-side reconciliation).
    pub fn servicenow(&self, tenant: &TenantId) -> Option<Arc<servicenow::ServicenowClient>> {
        self.tenant(tenant).and_then(|t| t.servicenow.clone())
    }
}
