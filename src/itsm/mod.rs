//! ServiceNow and Jira write-back clients, the same shape as `orange/`.
//!
//! The dispatcher only sees [`ItsmWriter`]; [`ItsmClients`] is the concrete writer `app.rs`
//! wires: one [`servicenow::ServicenowClient`] and/or [`jira::JiraClient`] per tenant, each
//! with the tenant's own credentials and rate budget (tenants never share either).
//! Retries and dead letters are the dispatcher's: a client makes one attempt and classifies
//! its failure with the shared [`crate::domain::FailureClass`].

use std::collections::HashMap;

use async_trait::async_trait;

use crate::config::Config;
use crate::domain::{CallFailure, FailureClass, ItsmCall, ItsmOp, TenantId, call::ItsmKind};

pub mod adf;
pub mod jira;
pub mod servicenow;
mod wire;

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

#[derive(Default)]
struct TenantItsm {
    servicenow: Option<servicenow::ServicenowClient>,
    jira: Option<jira::JiraClient>,
}

/// The write-back clients of every tenant in the config.
pub struct ItsmClients {
    tenants: HashMap<TenantId, TenantItsm>,
}

impl ItsmClients {
    /// Builds the clients of every tenant's `itsm:` section over one shared HTTP client.
    pub fn from_config(config: &Config, http: reqwest::Client) -> Self {
        let tenants = config
            .tenants
            .iter()
            .map(|t| {
                let clients = TenantItsm {
                    servicenow: t
                        .itsm
                        .servicenow
                        .clone()
                        .map(|s| servicenow::ServicenowClient::new(http.clone(), s)),
                    jira: t
                        .itsm
                        .jira
                        .clone()
                        .map(|j| jira::JiraClient::new(http.clone(), j)),
                };
                (t.id.clone(), clients)
            })
            .collect();
        Self { tenants }
    }
}

impl ItsmClients {
    /// The tenant's Jira client, for reads (ITSM-side reconciliation).
    pub fn jira(&self, tenant: &TenantId) -> Option<&jira::JiraClient> {
        self.tenants.get(tenant).and_then(|t| t.jira.as_ref())
    }

    /// The tenant's ServiceNow client, for reads (ITSM-side reconciliation).
    pub fn servicenow(&self, tenant: &TenantId) -> Option<&servicenow::ServicenowClient> {
        self.tenants.get(tenant).and_then(|t| t.servicenow.as_ref())
    }
}

fn not_configured(tenant: &TenantId, itsm: ItsmKind) -> CallFailure {
    CallFailure {
        class: FailureClass::Permanent,
        http_status: None,
        code: Some("itsm_not_configured".into()),
        message: format!("tenant {tenant} has no itsm.{itsm:?} write-back configured")
            .to_lowercase(),
    }
}

#[async_trait]
impl ItsmWriter for ItsmClients {
    async fn execute(&self, tenant: &TenantId, call: &ItsmCall) -> Result<Written, CallFailure> {
        let t = self.tenants.get(tenant);
        let jira = || {
            t.and_then(|t| t.jira.as_ref())
                .ok_or_else(|| not_configured(tenant, ItsmKind::Jira))
        };
        let result = match &call.op {
            ItsmOp::ServicenowPatch {
                table,
                sys_id,
                fields,
            } => {
                let c = t
                    .and_then(|t| t.servicenow.as_ref())
                    .ok_or_else(|| not_configured(tenant, ItsmKind::Servicenow))?;
                c.patch(table, sys_id, fields).await
            }
            ItsmOp::JiraComment {
                issue,
                body,
                public,
            } => jira()?.comment(issue, body, *public).await,
            ItsmOp::JiraTransition {
                issue,
                transition,
                fields,
            } => jira()?.transition(issue, transition, fields.as_ref()).await,
            ItsmOp::JiraEdit { issue, fields } => jira()?.edit(issue, fields).await,
        };
        let itsm = match call.itsm {
            ItsmKind::Servicenow => "servicenow",
            ItsmKind::Jira => "jira",
        };
        let outcome = match &result {
            Ok(_) => "success",
            Err(f) if f.retryable() => "retryable",
            Err(_) => "permanent",
        };
        metrics::counter!("itsm_bridge_writebacks_total", "itsm" => itsm, "outcome" => outcome)
            .increment(1);
        let mut written = result?;
        // The planner may already know a fingerprint (e.g. the note text it rendered).
        if let Some(fp) = &call.fingerprint
            && !written.echo_fingerprints.contains(fp)
        {
            written.echo_fingerprints.push(fp.clone());
        }
        Ok(written)
    }
}
