//! Admin API for reloads: `POST /reload` reloads the tenants (their files and the secret
//! files they read) and runs a checked reload of the mappings now; `GET /reload` shows, per
//! tenant and mapping, the version serving, the last attempt and the last refusal, and under
//! `tenant_files` each tenant file's state.
//!
//! A tenant file that does not load keeps its tenant on its last good version; `POST`
//! answers 422 `tenant-rejected` for it (when no mapping was refused), with the reload's
//! outcome under `tenants`.
//!
//! A scoped token sees its tenants' mappings and no tenant files; only a token of every
//! tenant may reload.
//!
//! A reload is per (tenant, source): a refused file keeps its entries on their last good
//! version while the others take their changes. `POST` answers 200 when nothing was refused,
//! and 422 `mapping-rejected` (problem+json) when anything was — a deploy step that reloads
//! (`curl -f`) must fail on a refusal — with what was applied all the same in the body
//! (`applied`, `unchanged`, `refused`), since part of the reload did take effect.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::acts;
use super::principal::Principal;
use crate::http::AppState;
use crate::http::problem::{Problem, ProblemItem, codes};
use crate::mapping::reload::{EntryOutcome, ReloadReport, ReloadResult};

/// Routes mounted under `/admin/v1` (behind the admin token check).
pub fn routes() -> Router<AppState> {
    Router::new().route("/reload", get(show).post(reload))
}

fn outcomes(report: &ReloadReport, r: ReloadResult) -> Vec<&EntryOutcome> {
    report.entries.iter().filter(|e| e.result == r).collect()
}

async fn reload(State(state): State<AppState>, who: Principal) -> Response {
    let (tenants, report) = match acts::reload(&state, &who).await {
        Ok(r) => r,
        Err(p) => return p.into_response(),
    };
    let refused = outcomes(&report, ReloadResult::Refused);
    let mut body = json!({
        "at": report.at.format(&time::format_description::well_known::Rfc3339).ok(),
        "trigger": report.trigger,
        "mappings": state.mappings.current().len(),
        "applied": outcomes(&report, ReloadResult::Applied),
        "unchanged": outcomes(&report, ReloadResult::Unchanged),
        "refused": refused,
        "tenants": tenants,
    });
    if refused.is_empty() && tenants.refused.is_empty() {
        body["reloaded"] = Value::Bool(true);
        return Json(body).into_response();
    }
    let p = if refused.is_empty() {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::TENANT_REJECTED,
            "Tenant files refused; their tenants keep their last good version, the others were reloaded",
        )
        .detail(format!("{} tenant file(s) refused", tenants.refused.len()));
        p.errors = tenants
            .refused
            .iter()
            .flat_map(|r| {
                r.problems.iter().map(|m| ProblemItem {
                    pointer: r.file.clone(),
                    detail: m.clone(),
                })
            })
            .collect();
        p
    } else {
        mapping_problem(&report, &refused)
    };
    let mut merged = serde_json::to_value(&*p).unwrap_or_else(|_| json!({}));
    if let (Some(m), Value::Object(extra)) = (merged.as_object_mut(), body) {
        m.extend(extra);
    }
    let mut resp = (StatusCode::UNPROCESSABLE_ENTITY, Json(merged)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::http::problem::PROBLEM_JSON),
    );
    resp
}

/// The 422 of a reload that refused mappings.
fn mapping_problem(report: &ReloadReport, refused: &[&EntryOutcome]) -> Problem {
    let mut p = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::MAPPING_REJECTED,
        "Mappings refused; they keep their last good version, the others were reloaded",
    )
    .detail(format!(
        "{} of {} mapping(s) refused, {} applied",
        refused.len(),
        report.entries.len(),
        report.count(ReloadResult::Applied)
    ));
    p.errors = report
        .problems()
        .into_iter()
        .map(|m| ProblemItem {
            pointer: format!("{}:{}", m.file, m.at),
            detail: m.message,
        })
        .collect();
    p
}

async fn show(State(state): State<AppState>, who: Principal) -> Json<Value> {
    let status = state.mappings.status();
    let mut tenants: Vec<Value> = Vec::new();
    let mut refused = 0;
    for ((tenant, _), e) in status.entries.iter().filter(|((t, _), _)| who.sees(t)) {
        refused += usize::from(e.refused());
        let mut entry = serde_json::to_value(e).unwrap_or_default();
        entry["refused"] = Value::Bool(e.refused());
        match tenants.last_mut() {
            Some(t) if t["tenant"] == tenant.as_str() => {
                if let Some(ms) = t["mappings"].as_array_mut() {
                    ms.push(entry);
                }
            }
            _ => tenants.push(json!({ "tenant": tenant, "mappings": [entry] })),
        }
    }
    let last = status.last.as_ref().map(|r| {
        json!({
            "at": r.at.format(&time::format_description::well_known::Rfc3339).ok(),
            "trigger": r.trigger,
            "applied": r.count(ReloadResult::Applied),
            "unchanged": r.count(ReloadResult::Unchanged),
            "refused": r.count(ReloadResult::Refused),
        })
    });
    Json(json!({
        "refused": refused,
        "last_reload": last,
        "tenants": tenants,
        // Tenant files name every tenant: a token of every tenant sees them.
        "tenant_files": who
            .require_global("the tenant files")
            .is_ok()
            .then(|| state.live.status()),
    }))
}
