//! The workers' traits over the tenants' ITSM clients: [`ItsmWriter`] for the dispatcher's
//! write-backs, [`JiraSearch`] and [`ServicenowTable`] for reconciliation's reads — the same
//! clients, and the same rate budget, for both.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{ItsmClients, jira, wire};
use crate::domain::{CallFailure, FailureClass, ItsmCall, ItsmOp, TenantId, call::ItsmKind};
use crate::worker::reconcile::{PageAt, SearchPage};
use crate::worker::{Booked, ItsmWriter, JiraSearch, ServicenowTable, Written};

/// The permanent failure of a call for a tenant without the ITSM section it needs; `what`
/// ends the sentence "tenant … has no …".
fn missing(tenant: &TenantId, what: &str) -> CallFailure {
    CallFailure {
        class: FailureClass::Permanent,
        http_status: None,
        code: Some("itsm_not_configured".into()),
        message: format!("tenant {tenant} has no {what}"),
    }
}

fn not_configured(tenant: &TenantId, itsm: ItsmKind) -> CallFailure {
    let itsm = format!("{itsm:?}").to_lowercase();
    missing(tenant, &format!("itsm.{itsm} write-back configured"))
}

#[async_trait]
impl ItsmWriter for ItsmClients {
    fn reserve(&self, tenant: &TenantId, call: &ItsmCall) -> Result<Booked, Duration> {
        // A tenant no longer served keeps its write-backs queued (see `UNKNOWN_TENANT_HOLD`).
        let Some(t) = self.tenant(tenant) else {
            return Err(crate::domain::UNKNOWN_TENANT_HOLD);
        };
        let t = Some(&*t);
        let (budget, requests) = match &call.op {
            ItsmOp::ServicenowPatch { .. } => {
                (t.and_then(|t| t.servicenow.as_ref()).map(|c| c.budget()), 1)
            }
            ItsmOp::JiraTransition { .. } => (
                t.and_then(|t| t.jira.as_ref()).map(|c| c.budget()),
                jira::TRANSITION_REQUESTS,
            ),
            ItsmOp::JiraComment { .. } | ItsmOp::JiraEdit { .. } => {
                (t.and_then(|t| t.jira.as_ref()).map(|c| c.budget()), 1)
            }
        };
        // No client: `execute` fails it permanently, and that needs no budget.
        match budget {
            Some(b) => b.try_take(requests).map(|()| Booked::new()),
            None => Ok(Booked::new()),
        }
    }

    async fn execute(
        &self,
        tenant: &TenantId,
        call: &ItsmCall,
        _booked: Booked,
    ) -> Result<Written, CallFailure> {
        use wire::Pace::Booked as Paid;
        let t = self.tenant(tenant);
        let t = t.as_deref();
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
                c.patch_paced(Paid, table, sys_id, fields).await
            }
            ItsmOp::JiraComment {
                issue,
                body,
                public,
            } => jira()?.comment_paced(Paid, issue, body, *public).await,
            ItsmOp::JiraTransition {
                issue,
                transition,
                fields,
            } => {
                jira()?
                    .transition_paced(Paid, issue, transition, fields.as_ref())
                    .await
            }
            ItsmOp::JiraEdit { issue, fields } => jira()?.edit_paced(Paid, issue, fields).await,
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

#[async_trait]
impl JiraSearch for ItsmClients {
    /// Cloud (`deployment`): `/search/jql` by `nextPageToken`; Data Center: `/search` by
    /// `startAt`, a full page meaning there may be more.
    async fn search(
        &self,
        tenant: &TenantId,
        jql: &str,
        at: Option<&PageAt>,
        max: u32,
    ) -> Result<SearchPage, CallFailure> {
        let client = self
            .jira(tenant)
            .ok_or_else(|| missing(tenant, "itsm.jira to search with"))?;
        if client.is_cloud() {
            let token = match at {
                Some(PageAt::Token(t)) => Some(t.as_str()),
                _ => None,
            };
            let (issues, next) = client.search_jql(jql, token, max).await?;
            return Ok(SearchPage {
                issues,
                next: next.map(PageAt::Token),
            });
        }
        let offset = match at {
            Some(PageAt::Offset(n)) => *n,
            _ => 0,
        };
        let issues = client.search(jql, offset, max).await?;
        let got = u32::try_from(issues.len()).unwrap_or(u32::MAX);
        let next = (got >= max.max(1)).then(|| PageAt::Offset(offset.saturating_add(got)));
        Ok(SearchPage { issues, next })
    }
}

#[async_trait]
impl ServicenowTable for ItsmClients {
    async fn list(
        &self,
        tenant: &TenantId,
        table: &str,
        query: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Value>, CallFailure> {
        let client = self
            .servicenow(tenant)
            .ok_or_else(|| missing(tenant, "itsm.servicenow to read with"))?;
        client.list(table, query, limit, offset).await
    }
}
