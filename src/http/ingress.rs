//! `POST /webhooks/{tenant}/{source}`: find the source, read the body, authenticate, parse,
//! then the shared intake step (`crate::intake`: echo check, event schema, mapping, backlog,
//! commit) and answer.
//!
//! The answer is 202 only after the store has durably committed the event and the calls
//! its mapping planned; a redelivery (same dedupe key) answers 202 with `"duplicate": true`
//! and creates nothing. An event the mapping cannot handle is parked and answered 202 with
//! `"parked": "<reason>"` (and the failing rule and pointer): the ITSM does not retry a 4xx,
//! so only what the sender can fix is refused, each as a problem+json with a stable code.

use tracing::Instrument;

use crate::telemetry::otlp::TRACEPARENT;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;

use super::AppState;
use super::problem::{Problem, codes};
use super::routes::SourceRoute;
use crate::domain::{EventId, IngestOutcome, SourceName, TenantId};
use crate::intake::{IntakeError, Outcome, Submission};

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

/// The 202 answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub event_id: EventId,
    pub duplicate: bool,
    /// Why the event is parked (`schema-violation`, `mapping-rejected`,
    /// `orange-schema-violation`, `unrouted`), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parked: Option<&'static str>,
    /// The mapping rule that failed, for a parked event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The JSON pointer in the event that failed, for a parked event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// What failed, for a parked event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Accepted {
    fn new(event_id: EventId, duplicate: bool) -> Self {
        Self {
            event_id,
            duplicate,
            parked: None,
            rule: None,
            pointer: None,
            detail: None,
        }
    }
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
    let body = read_body(body, state.routes().max_body_bytes)?;
    tracing::info_span!("webhook.authenticate")
        .in_scope(|| super::auth::verify(&route.auth, &headers, &body))
        .map_err(|e| reject("unauthorized", Problem::unauthorized(e.to_string())))?;
    check_content_type(&headers)?;
    let value = parse_json(&body)?;
    let (tenant, source) = (&route.tenant, &route.source);
    metrics::counter!("itsm_bridge_webhooks_received_total", "tenant" => tenant.to_string(), "source" => source.to_string()).increment(1);

    let submission = Submission {
        tenant,
        source,
        kind: route.kind,
        integration_user: route.integration_user.as_deref(),
        headers: &headers,
        kept_headers: with_trace(kept_headers(&headers, &route.secret_headers)),
        body: &value,
        raw: body,
        dedupe_key: None,
        received_at: time::OffsetDateTime::now_utc(),
    };
    let started = Instant::now();
    let outcome = state
        .intake
        .submit(submission)
        .instrument(tracing::info_span!("webhook.intake", %tenant, %source))
        .await
        .map_err(|e| refusal(&state, e))?;
    let accepted = match outcome {
        // Acknowledged so the ITSM does not retry; nothing was kept.
        Outcome::Echo(_) => Accepted::new(EventId::new(), true),
        Outcome::Committed {
            ingest,
            disposition,
            ..
        } => {
            metrics::histogram!("itsm_bridge_ingest_commit_seconds")
                .record(started.elapsed().as_secs_f64());
            let duplicate = matches!(ingest, IngestOutcome::Duplicate(_));
            if duplicate {
                metrics::counter!("itsm_bridge_webhooks_duplicate_total", "tenant" => tenant.to_string())
                    .increment(1);
            }
            let mut a = Accepted::new(ingest.event_id(), duplicate);
            if let (false, Some(p)) = (duplicate, disposition.parked) {
                a.parked = Some(p.reason.as_str());
                a.rule = p.rule;
                a.pointer = p.pointer;
                a.detail = Some(p.detail);
            }
            a
        }
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// What the sender is told when the intake cannot take the event now: always something to
/// retry (429 or 503 with `Retry-After`), never a final refusal.
fn refusal(state: &AppState, e: IntakeError) -> Problem {
    let retry = state.routes().retry_after_secs;
    match e {
        IntakeError::BacklogFull { pending, max } => reject(
            "backlog_full",
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::BACKLOG_FULL,
                "The gateway's backlog is full",
            )
            .detail(format!(
                "{pending} deliveries are waiting (limit {max}); send the event again later"
            ))
            .retry_after(retry),
        ),
        IntakeError::NoMapping { .. } => reject(
            "mapping_not_loaded",
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::MAPPING_REJECTED,
                "Mapping not loaded",
            )
            .detail("the source's mapping is not loaded; see the gateway's log")
            .retry_after(retry),
        ),
        IntakeError::Store(crate::store::StoreError::Rejected(why)) => {
            // One event's data, not an outage: the sender may not retry it, the log says why.
            tracing::error!(error = %why, "the store refused a webhook's data; answering 500");
            reject("store_rejected", Problem::store_rejected())
        }
        IntakeError::Store(e) => {
            tracing::error!(error = %e, "cannot commit a webhook; answering 503");
            reject("store_unavailable", Problem::store_unavailable(retry))
        }
        IntakeError::Corrupt(..) => {
            tracing::error!(error = %e, "intake failed; answering 503");
            reject("store_unavailable", Problem::store_unavailable(retry))
        }
    }
}

fn find_route(state: &AppState, tenant: &str, source: &str) -> Result<Arc<SourceRoute>, Problem> {
    let t = TenantId::parse(tenant)
        .ok()
        .filter(|t| state.routes().has_tenant(t));
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
        .and_then(|s| state.routes().get(&t, &s))
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
            Err(reject("body_too_large", super::body::too_large(limit)))
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

/// The headers worth keeping with an event, without credentials or signatures.
/// The webhook's trace context kept with its event (as `traceparent`, in place of one the
/// caller sent), so that its deliveries' attempts link to it; unchanged when tracing is off.
fn with_trace(mut kept: Vec<(String, String)>) -> Vec<(String, String)> {
    if let Some(tp) = crate::telemetry::otlp::current_traceparent() {
        kept.retain(|(k, _)| k != TRACEPARENT);
        kept.push((TRACEPARENT.to_owned(), tp));
    }
    kept
}

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
