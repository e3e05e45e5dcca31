//! Mapping reloads and the audit log: per tenant the mapping version serving, the last
//! attempt and the last refusal with its problems, a reload button (for a token of every
//! tenant), and the audit log the token may read, newest first.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::html::{csrf_field, esc, next_page, notice, page, page_with, table, when};
use super::session::{Session, Signed};
use super::{Form, acting};
use crate::http::AppState;
use crate::http::admin::{acts, audit};
use crate::mapping::reload::ReloadResult;

const RELOAD: &str = "/console/reload";
const AUDIT: &str = "/console/audit";

fn reload_page(state: &AppState, s: &Session, top: String) -> String {
    let status = state.mappings.status();
    let mut body = top;
    let mut rows = Vec::new();
    for ((tenant, source), e) in status
        .entries
        .iter()
        .filter(|((t, _), _)| s.principal.sees(t))
    {
        let serving = e
            .loaded
            .as_ref()
            .map(|v| {
                format!(
                    "{} since {}",
                    v.hash.get(..19).unwrap_or(&v.hash),
                    when(v.loaded_at)
                )
            })
            .unwrap_or_else(|| "none".into());
        let last = e
            .last_attempt
            .as_ref()
            .map(|a| {
                format!(
                    "{} ({}) at {}",
                    a.result.as_str(),
                    serde_json::to_value(a.trigger)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    when(a.at)
                )
            })
            .unwrap_or_else(|| "—".into());
        let refusal = e
            .last_refusal
            .as_ref()
            .map(|r| {
                let mut t = format!("{}: ", when(r.at));
                for p in &r.problems {
                    let _ = write!(t, "{}:{}: {}; ", p.file, p.at, p.message);
                }
                t
            })
            .unwrap_or_else(|| "—".into());
        let class = if e.refused() {
            "<strong class=\"fail\">refused</strong>"
        } else {
            "<span class=\"pass\">ok</span>"
        };
        rows.push(vec![
            esc(tenant.as_str()),
            esc(source.as_str()),
            esc(&e.file),
            class.to_owned(),
            esc(&serving),
            esc(&last),
            esc(&refusal),
        ]);
    }
    body.push_str(&table(
        "Mappings per tenant",
        &[
            "Tenant",
            "Source",
            "File",
            "State",
            "Serving",
            "Last attempt",
            "Last refusal",
        ],
        &rows,
    ));
    if s.principal.can_act() && s.principal.is_global() {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{RELOAD}\">{}<button type=\"submit\">Reload the mappings now</button></form>",
            csrf_field(s)
        );
    }
    body
}

pub async fn reload_state(State(state): State<AppState>, Signed(s, _): Signed) -> Response {
    let body = reload_page(&state, &s, String::new());
    page("Mappings", RELOAD, Some(&s), &body)
}

pub async fn reload(State(state): State<AppState>, Signed(s, _): Signed, body: Bytes) -> Response {
    if let Some(r) = acting(&s, &Form::parse(&body), RELOAD) {
        return r;
    }
    match acts::reload(&state, &s.principal).await {
        Ok((tenants, r)) => {
            let refused = r.count(ReloadResult::Refused) + tenants.refused.len();
            let text = format!(
                "Reloaded: {} mapping(s) applied, {} unchanged, {} refused; {} tenant file(s) refused.",
                r.count(ReloadResult::Applied),
                r.count(ReloadResult::Unchanged),
                r.count(ReloadResult::Refused),
                tenants.refused.len()
            );
            let top = notice(if refused == 0 { "ok" } else { "error" }, &text);
            page("Mappings", RELOAD, Some(&s), &reload_page(&state, &s, top))
        }
        Err(p) => {
            let top = notice("error", p.detail.as_deref().unwrap_or(p.title));
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::FORBIDDEN);
            page_with(
                status,
                "Mappings",
                RELOAD,
                Some(&s),
                &reload_page(&state, &s, top),
            )
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

pub async fn audit(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    Query(aq): Query<AuditQuery>,
) -> Response {
    const PAGE: u32 = 100;
    let query = match audit::query_for(&s.principal, None, aq.before, PAGE) {
        Ok(q) => q,
        Err(p) => {
            return super::refused(
                &s,
                StatusCode::FORBIDDEN,
                AUDIT,
                p.detail.as_deref().unwrap_or(""),
            );
        }
    };
    let mut body = String::new();
    match state.store.audit_log(&query).await {
        Ok(entries) => {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        esc(&when(e.at)),
                        esc(&e.actor),
                        esc(&e.action),
                        esc(e.tenant.as_ref().map_or("—", |t| t.as_str())),
                        esc(&e.target),
                        esc(&e.outcome),
                        esc(&e.detail),
                    ]
                })
                .collect();
            body.push_str(&table(
                "Operator actions, newest first",
                &[
                    "When (UTC)",
                    "Who",
                    "Action",
                    "Tenant",
                    "On",
                    "Outcome",
                    "Detail",
                ],
                &rows,
            ));
            body.push_str(&next_page(&entries, PAGE, "Older entries", |last| {
                format!("{AUDIT}?before={}", last.id)
            }));
        }
        Err(e) => body.push_str(&notice("error", &format!("The store cannot answer: {e}"))),
    }
    page("Audit log", AUDIT, Some(&s), &body)
}
