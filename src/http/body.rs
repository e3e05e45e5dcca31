//! Request bodies, read before any handler runs, under three limits: size (413), time (408
//! after `server.body_read_timeout_secs`) and memory across requests
//! (`server.max_body_bytes_in_flight`, 503 with `Retry-After` when it cannot be had in time).
//!
//! The memory budget is held from the first byte read until the handler has answered, since
//! the parsed and mapped event lives as long as the body. A body with a `Content-Length`
//! takes that many bytes of the budget (a larger one than its route's limit is refused
//! unread); a chunked one takes its route's limit. A webhook whose headers alone cannot
//! authenticate (no credentials, a wrong Basic or Bearer, a malformed signature header) is
//! answered 401 unread, and one to an unknown tenant or source goes to its handler without
//! its body (the answer, 404, depends on the path alone): neither costs memory.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::AppState;
use super::problem::{Problem, codes};
use crate::config::ServerConfig;
use crate::domain::{SourceName, TenantId};

/// Largest body of the routes other than webhooks (the admin API): axum's default limit.
const OTHER_MAX_BODY: usize = 2 * 1024 * 1024;
/// The budget counts KiB, so that any size fits a semaphore's `u32` acquire.
const UNIT: usize = 1024;

/// The shared limits on reading bodies.
pub struct BodyGate {
    budget: Arc<Semaphore>,
    budget_units: usize,
    read_timeout: Duration,
}

impl BodyGate {
    pub fn new(server: &ServerConfig) -> Self {
        let units = server.max_body_bytes_in_flight.div_ceil(UNIT).max(1);
        Self {
            budget: Arc::new(Semaphore::new(units.min(Semaphore::MAX_PERMITS))),
            budget_units: units,
            read_timeout: Duration::from_secs(server.body_read_timeout_secs),
        }
    }
}

/// Middleware: reads the body whole under the limits, then hands the request on.
pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match read(&state, req).await {
        Ok((req, permit)) => {
            let resp = next.run(req).await;
            // The handler is done with the body and all it parsed from it.
            drop(permit);
            resp
        }
        Err(p) => p.into_response(),
    }
}

async fn read(
    state: &AppState,
    req: Request,
) -> Result<(Request, Option<OwnedSemaphorePermit>), Problem> {
    let (parts, body) = req.into_parts();
    let mut limit = OTHER_MAX_BODY;
    let webhook = (parts.method == axum::http::Method::POST)
        .then(|| webhook_path(parts.uri.path()))
        .flatten();
    if let Some((tenant, source)) = webhook {
        let route = TenantId::parse(tenant)
            .ok()
            .zip(SourceName::parse(source).ok())
            .and_then(|(t, s)| state.routes().get(&t, &s));
        let Some(route) = route else {
            return Ok((Request::from_parts(parts, Body::empty()), None));
        };
        if let Err(e) = super::auth::verify_headers(&route.auth, &parts.headers) {
            metrics::counter!("itsm_bridge_webhooks_rejected_total", "reason" => "unauthorized")
                .increment(1);
            tracing::info!(reason = "unauthorized", status = 401, detail = %e, "webhook rejected before its body was read");
            return Err(Problem::unauthorized(e.to_string()));
        }
        limit = state.routes().max_body_bytes;
    }
    let declared = content_length(&parts.headers);
    if declared == Some(0) || (declared.is_none() && http_body::Body::is_end_stream(&body)) {
        return Ok((Request::from_parts(parts, body), None));
    }
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let gate = &state.body;
    let units = declared
        .unwrap_or(limit)
        .div_ceil(UNIT)
        .clamp(1, gate.budget_units);
    let deadline = Instant::now() + gate.read_timeout;
    let permit = tokio::time::timeout_at(
        deadline,
        gate.budget
            .clone()
            .acquire_many_owned(u32::try_from(units).unwrap_or(u32::MAX)),
    )
    .await;
    let Ok(Ok(permit)) = permit else {
        metrics::counter!("itsm_bridge_http_bodies_refused_total", "reason" => "busy").increment(1);
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::SERVER_BUSY,
            "The gateway is reading too many bodies",
        )
        .detail("other requests' bodies hold the memory set aside for bodies; send it again later")
        .retry_after(state.routes().retry_after_secs));
    };
    match tokio::time::timeout_at(deadline, collect(body, limit, declared)).await {
        Ok(Ok(bytes)) => Ok((Request::from_parts(parts, Body::from(bytes)), Some(permit))),
        Ok(Err(ReadError::TooLarge)) => Err(too_large(limit)),
        Ok(Err(ReadError::Failed(e))) => {
            Err(Problem::bad_request(format!("cannot read the body: {e}")))
        }
        Err(_) => {
            metrics::counter!("itsm_bridge_http_bodies_refused_total", "reason" => "timeout")
                .increment(1);
            tracing::info!(
                status = 408,
                path = parts.uri.path(),
                "the body did not arrive in time"
            );
            Err(Problem::request_timeout(gate.read_timeout.as_secs()))
        }
    }
}

/// `(tenant, source)` of `/webhooks/{tenant}/{source}`.
fn webhook_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/webhooks/")?;
    let (tenant, source) = rest.split_once('/')?;
    (!source.contains('/')).then_some((tenant, source))
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    // hyper has refused a request whose Content-Length does not parse.
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// 413 `body-too-large`: the body is over the `limit` in bytes.
pub(super) fn too_large(limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::BODY_TOO_LARGE,
        "Body too large",
    )
    .detail(format!(
        "the body is larger than the limit of {limit} bytes"
    ))
}

enum ReadError {
    TooLarge,
    Failed(axum::Error),
}

/// The body's bytes, in one buffer sized from `Content-Length` (chunks are copied in and
/// dropped as they come, so a body is held about once).
async fn collect(
    mut body: Body,
    limit: usize,
    declared: Option<usize>,
) -> Result<Bytes, ReadError> {
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Failed)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Parses a webhook's JSON; a body whose only fault is a lone UTF-16 surrogate escape
/// (`\ud800` without its pair: JavaScript's `JSON.stringify` writes one for half an emoji,
/// and ServiceNow does not resend a refused webhook) is parsed with each replaced by U+FFFD.
/// The raw body, kept and signed, is not changed.
pub(super) fn parse_json(body: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_slice(body).or_else(|first| {
        if first.classify() != serde_json::error::Category::Syntax {
            return Err(first);
        }
        match replace_lone_surrogates(body) {
            Some(fixed) => serde_json::from_slice(&fixed).map_err(|_| first),
            None => Err(first),
        }
    })
}

/// `json` with every lone surrogate escape replaced by `\ufffd`; `None` when it has none.
fn replace_lone_surrogates(json: &[u8]) -> Option<Vec<u8>> {
    let hex = |at: usize| -> Option<u16> {
        let d = json.get(at..at + 6)?;
        if &d[..2] != b"\\u" {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&d[2..]).ok()?, 16).ok()
    };
    let mut out = Vec::with_capacity(json.len());
    let (mut i, mut replaced) = (0, false);
    while i < json.len() {
        if json[i] != b'\\' {
            out.push(json[i]);
            i += 1;
            continue;
        }
        match hex(i) {
            Some(0xD800..=0xDBFF) if matches!(hex(i + 6), Some(0xDC00..=0xDFFF)) => {
                out.extend_from_slice(&json[i..i + 12]);
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.extend_from_slice(b"\\ufffd");
                replaced = true;
                i += 6;
            }
            _ => {
                // Any other escape: the backslash and the character it escapes.
                let n = (json.len() - i).min(2);
                out.extend_from_slice(&json[i..i + n]);
                i += n;
            }
        }
    }
    replaced.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        let v = parse_json(
            br#"{"a":"half \ud83d an emoji","b":"\ude00","c":"\ud83d\ude00","d":"\\ud800"}"#,
        )
        .unwrap();
        assert_eq!(v["a"], "half \u{fffd} an emoji");
        assert_eq!(v["b"], "\u{fffd}");
        assert_eq!(v["c"], "\u{1f600}");
        assert_eq!(v["d"], "\\ud800");
        // Other faults stay faults.
        assert!(parse_json(br#"{"a":"\ud800""#).is_err());
        assert!(parse_json(b"{\"a\": 1,}").is_err());
    }

    #[test]
    fn webhook_paths_name_a_tenant_and_a_source() {
        assert_eq!(webhook_path("/webhooks/acme/jira"), Some(("acme", "jira")));
        assert_eq!(webhook_path("/webhooks/acme"), None);
        assert_eq!(webhook_path("/webhooks/acme/jira/x"), None);
        assert_eq!(webhook_path("/admin/v1/events"), None);
    }
}
