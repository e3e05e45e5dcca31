//! [`JiraSearch`] and [`ServicenowTable`] over the tenants' ITSM clients (the same ones, and
//! the same rate budget, the dispatcher writes back with).

use async_trait::async_trait;
use serde_json::Value;

use super::{JiraSearch, ServicenowTable};
use crate::domain::{CallFailure, FailureClass, TenantId};
use crate::itsm::ItsmClients;

#[async_trait]
impl JiraSearch for ItsmClients {
    async fn search(
        &self,
        tenant: &TenantId,
        jql: &str,
        start_at: u32,
        max: u32,
    ) -> Result<Vec<Value>, CallFailure> {
        let client = self.jira(tenant).ok_or_else(|| CallFailure {
            class: FailureClass::Permanent,
            http_status: None,
            code: Some("itsm_not_configured".into()),
            message: format!("tenant {tenant} has no itsm.jira to search with"),
        })?;
        client.search(jql, start_at, max).await
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
