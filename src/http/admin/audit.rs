//! The audit log over HTTP: `GET /admin/v1/audit` (newest first, `?tenant=`, `?before=`,
//! `?limit=`; a scoped token reads its tenants' entries only), and [`record`], which every
//! acting handler of the admin API and the console calls with who did what and how it ended.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::params::{AdminQuery, next_cursor, page_limit, tenant_param};
use super::principal::Principal;
use crate::domain::TenantId;
use crate::http::AppState;
use crate::http::problem::Problem;
use crate::store::{AuditQuery, NewAudit, Store};

/// Action names as the audit log keeps them.
pub mod actions {
    pub const REPLAY_DEAD_LETTER: &str = "replay-dead-letter";
    pub const REPLAY_DEAD_LETTERS: &str = "replay-dead-letters";
    pub const DISCARD_DEAD_LETTER: &str = "discard-dead-letter";
    pub const REPLAY_EVENT: &str = "replay-event";
    pub const REPLAY_PARKED: &str = "replay-parked";
    pub const DISCARD_EVENT: &str = "discard-event";
    pub const LINK: &str = "link";
    pub const RELOAD: &str = "reload";
    pub const SIGN_IN: &str = "sign-in";
    pub const SIGN_OUT: &str = "sign-out";
}

/// Routes mounted under `/admin/v1` (behind the admin token check).
pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}

/// What one action came to, for [`record`].
pub struct Act<'a> {
    pub action: &'static str,
    pub tenant: Option<&'a TenantId>,
    pub target: String,
}

/// Records `act` by `who` with its outcome: `Ok(detail)` or the problem that refused it.
/// A record that cannot be written is logged as an ERROR (someone must look: the action
/// happened, its trace did not), never turned into a failure of the action itself.
pub async fn record(store: &dyn Store, who: &str, act: Act<'_>, outcome: Result<String, &Problem>) {
    let (outcome, detail) = match outcome {
        Ok(d) => ("ok".to_owned(), d),
        Err(p) => (
            if p.status < 500 { "refused" } else { "failed" }.to_owned(),
            p.detail.clone().unwrap_or_else(|| p.title.to_owned()),
        ),
    };
    let entry = NewAudit {
        at: time::OffsetDateTime::now_utc(),
        actor: who.to_owned(),
        action: act.action.to_owned(),
        tenant: act.tenant.cloned(),
        target: act.target,
        outcome,
        detail,
    };
    if let Err(e) = store.record_audit(&entry).await {
        tracing::error!(
            error = %e,
            audit.actor = %entry.actor,
            audit.action = %entry.action,
            "cannot record an operator action in the audit log"
        );
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    tenant: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// The audit query a principal may run: its scope, narrowed to `tenant` when asked.
pub fn query_for(
    who: &Principal,
    tenant: Option<TenantId>,
    before: Option<i64>,
    limit: u32,
) -> Result<AuditQuery, Problem> {
    let tenants = match tenant {
        Some(t) => Some(who.tenant_filters(Some(t))?.into_iter().flatten().collect()),
        None => who.tenants().map(<[TenantId]>::to_vec),
    };
    Ok(AuditQuery {
        tenants,
        before,
        limit,
    })
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    AdminQuery(q): AdminQuery<ListQuery>,
) -> Result<Json<Value>, Problem> {
    let tenant = tenant_param(q.tenant)?;
    let query = query_for(&who, tenant, q.before, page_limit(q.limit))?;
    let entries = state.store.audit_log(&query).await?;
    let next = next_cursor(&entries, query.limit, |e| e.id);
    Ok(Json(json!({ "entries": entries, "next_before": next })))
}
