//! `POST /webhooks/{tenant}/{source}`: authenticate, parse, validate, map, commit, answer.
//!
//! The answer is 202 only after the store has durably committed the event and the calls
//! its mapping planned; a redelivery (same dedupe key) answers 202 with `"duplicate": true`
//! and creates nothing. Every refusal is a problem+json with a stable code.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;

use super::AppState;
use super::problem::{Problem, ProblemItem, codes};
use super::routes::SourceRoute;
use crate::domain::{EventId, IngestOutcome, NewEvent, SourceKind, SourceName, TenantId};
use crate::mapping::Incoming;

/// Headers never kept with an event: credentials and signatures.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    super::auth::HUB_SIGNATURE,
];
/// At most this many headers, of at most this many bytes each, are kept with an event.
const MAX_KEPT_HEADERS: usize = 48;
const MAX_HEADER_LEN: usize = 1024;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub event_id: EventId,
    pub duplicate: bool,
}

fn reject(reason: &'static str, p: Problem) -> Problem {
    metrics::counter!("itsm_bridge_webhooks_rejected_total", "reason" => reason).increment(1);
    tracing::info!(
        reason,
        status = p.status,
        detail = p.detail.as_deref().unwrap_or(""),
        "webhook rejected"
    );
    p
}

pub async fn webhook(
    State(state): State<AppState>,
    Path((tenant, source)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let route = find_route(&state, &tenant, &source)?;
    let body = read_body(body, state.routes.max_body_bytes)?;
    super::auth::verify(&route.auth, &headers, &body)
        .map_err(|e| reject("unauthorized", Problem::unauthorized(e.to_string())))?;
    check_content_type(&headers)?;
    let value = parse_json(&body)?;
    validate_schema(route.kind, &value)?;
    let (tenant, source) = (route.tenant.clone(), route.source.clone());
    metrics::counter!("itsm_bridge_webhooks_received_total", "tenant" => tenant.to_string(), "source" => source.to_string()).increment(1);

    if let Some(why) = state.echo_of(&route, &value).await? {
        metrics::counter!("itsm_bridge_echoes_dropped_total", "tenant" => tenant.to_string())
            .increment(1);
        tracing::debug!(%tenant, %source, why, "echo of the gateway's own write dropped");
        return Ok((
            StatusCode::ACCEPTED,
            Json(Accepted {
                event_id: EventId::new(),
                duplicate: true,
            }),
        ));
    }

    let event = map_event(&state, &route, &headers, &value, body)?;
    state.check_backlog().await?;
    let started = Instant::now();
    let event_id = event.id;
    let outcome = state
        .app
        .store
        .ingest(event)
        .await
        .map_err(|e| ingest_failed(e, event_id, &tenant, state.routes.retry_after_secs))?;
    metrics::histogram!("itsm_bridge_ingest_commit_seconds")
        .record(started.elapsed().as_secs_f64());
    if outcome.is_duplicate() {
        metrics::counter!("itsm_bridge_webhooks_duplicate_total", "tenant" => tenant.to_string())
            .increment(1);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event_id: outcome.event_id(),
            duplicate: matches!(outcome, IngestOutcome::Duplicate(_)),
        }),
    ))
}

fn find_route(state: &AppState, tenant: &str, source: &str) -> Result<Arc<SourceRoute>, Problem> {
    let t = TenantId::parse(tenant)
        .ok()
        .filter(|t| state.routes.has_tenant(t));
    let Some(t) = t else {
        return Err(reject(
            "unknown_tenant",
            Problem::new(
                StatusCode::NOT_FOUND,
                codes::UNKNOWN_TENANT,
                "Unknown tenant",
            )
            .detail(format!("no tenant {tenant:?} is configured")),
        ));
    };
    SourceName::parse(source)
        .ok()
        .and_then(|s| state.routes.get(&t, &s))
        .ok_or_else(|| {
            reject(
                "unknown_source",
                Problem::new(
                    StatusCode::NOT_FOUND,
                    codes::UNKNOWN_SOURCE,
                    "Unknown source",
                )
                .detail(format!("tenant {t} has no source {source:?}")),
            )
        })
}

fn read_body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, Problem> {
    match body {
        Ok(b) => Ok(b),
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            Err(reject(
                "body_too_large",
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::BODY_TOO_LARGE,
                    "Body too large",
                )
                .detail(format!(
                    "the body is larger than the limit of {limit} bytes"
                )),
            ))
        }
        Err(e) => Err(reject(
            "bad_body",
            Problem::bad_request(format!("cannot read the body: {e}")),
        )),
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(reject(
            "unsupported_media_type",
            Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
            )
            .detail(format!(
                "expected Content-Type: application/json, got {:?}",
                ct.chars().take(100).collect::<String>()
            )),
        ))
    }
}

fn parse_json(body: &[u8]) -> Result<serde_json::Value, Problem> {
    super::body::parse_json(body).map_err(|e| {
        reject(
            "malformed_json",
            Problem::new(
                StatusCode::BAD_REQUEST,
                codes::MALFORMED_JSON,
                "Malformed JSON",
            )
            .detail(format!("the body is not valid JSON: {e}")),
        )
    })
}

fn validate_schema(kind: SourceKind, value: &serde_json::Value) -> Result<(), Problem> {
    let errors: Vec<ProblemItem> = crate::mapping::schemas::check_event(kind, value)
        .into_iter()
        .take(20)
        .map(|v| ProblemItem {
            pointer: v.pointer,
            detail: v.message,
        })
        .collect();
    let Some(first) = errors.first() else {
        return Ok(());
    };
    let mut p = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::SCHEMA_VIOLATION,
        "Event does not match its schema",
    )
    .detail(format!(
        "{} event: {} (at {:?})",
        kind.as_str(),
        first.detail,
        first.pointer
    ))
    .pointer(first.pointer.clone());
    p.errors = errors;
    Err(reject("schema_violation", p))
}

fn map_event(
    state: &AppState,
    route: &SourceRoute,
    headers: &HeaderMap,
    value: &serde_json::Value,
    body: Bytes,
) -> Result<NewEvent, Problem> {
    let mappings = state.app.mappings.current();
    let mapping = mappings.get(&route.tenant, &route.source).ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::MAPPING_REJECTED,
            "Mapping not loaded",
        )
        .detail("the source's mapping is not loaded; see the gateway's log")
        .retry_after(state.routes.retry_after_secs)
    })?;
    let incoming = Incoming {
        kind: route.kind,
        headers,
        body: value,
        raw: &body,
    };
    let mapped = mapping.apply(&incoming).map_err(|e| {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::MAPPING_REJECTED,
            "The mapping rejected the event",
        )
        .detail(e.message.clone())
        .pointer(e.pointer.clone());
        p.rule = Some(e.rule.clone());
        reject("mapping_rejected", p)
    })?;
    Ok(mapped.into_event(
        &route.tenant,
        &route.source,
        body,
        kept_headers(headers, &route.secret_headers),
        time::OffsetDateTime::now_utc(),
    ))
}

/// The headers worth keeping with an event, without credentials or signatures.
fn kept_headers(headers: &HeaderMap, extra_secret: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            !SECRET_HEADERS.contains(&k) && !extra_secret.iter().any(|s| s.eq_ignore_ascii_case(k))
        })
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .filter(|(_, v)| v.len() <= MAX_HEADER_LEN)
        .take(MAX_KEPT_HEADERS)
        .collect()
}

/// The answer when the store did not take an event: an outage is 503 (send it again later);
/// a refusal of this one event's data is 500 `store-rejected`, logged once with the event id
/// (never the body) — the store is up, so it must not read as an outage.
fn ingest_failed(
    e: crate::store::StoreError,
    event_id: EventId,
    tenant: &TenantId,
    retry_after_secs: u64,
) -> Problem {
    if let crate::store::StoreError::Rejected(why) = &e {
        tracing::error!(event.id = %event_id, %tenant, error = %why, "the store refused a webhook's data; answering 500");
        return reject("store_rejected", Problem::store_rejected());
    }
    tracing::error!(error = %e, %tenant, "cannot commit a webhook; answering 503");
    reject(
        "store_unavailable",
        Problem::store_unavailable(retry_after_secs),
    )
}
