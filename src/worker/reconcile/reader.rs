//! [`JiraSearch`] and [`ServicenowTable`] over the tenants' ITSM clients (the same ones, and
//! the same rate budget, the dispatcher writes back with).

use async_trait::async_trait;
use serde_json::Value;

use super::{JiraSearch, PageAt, SearchPage, ServicenowTable};
use crate::domain::{CallFailure, FailureClass, TenantId};
use crate::itsm::ItsmClients;

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
        let client = self.jira(tenant).ok_or_else(|| CallFailure {
            class: FailureClass::Permanent,
            http_status: None,
            code: Some("itsm_not_configured".into()),
            message: format!("tenant {tenant} has no itsm.jira to search with"),
        })?;
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
        let client = self.servicenow(tenant).ok_or_else(|| CallFailure {
            class: FailureClass::Permanent,
            http_status: None,
            code: Some("itsm_not_configured".into()),
            message: format!("tenant {tenant} has no itsm.servicenow to read with"),
        })?;
        client.list(table, query, limit, offset).await
    }
}
