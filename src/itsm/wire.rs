//! What the ServiceNow and Jira clients share: credentials on the request, a per-tenant rate
//! budget (`budget.rs`), and turning a transport error or an error response into a [`CallFailure`].

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::budget::ItsmBudget;
use crate::config::OutboundAuth;
use crate::domain::outcome::parse_retry_after;
use crate::domain::{CallFailure, FailureClass, classify_status};

/// Timeout of one ITSM call: long enough for a slow instance, short enough for a lease.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How a call gets its room in the tenant's ITSM budget.
#[derive(Clone, Copy)]
pub enum Pace<'a> {
    /// Wait for it (reads, and callers outside the dispatcher).
    Wait(&'a ItsmBudget),
    /// Already booked with [`ItsmBudget::try_take`] (write-backs in a dispatcher slot).
    Booked,
}

/// How an ITSM's error body reads: its code (if any) and message.
pub type ParseError = fn(&[u8]) -> Option<(Option<String>, String)>;

/// Sends one call within the tenant's budget (`pace`), with the tenant's credentials: the
/// status and body of a 2xx answer, or the classified failure (the ITSM's error body parsed
/// by `parse`).
pub async fn send(
    pace: Pace<'_>,
    auth: &OutboundAuth,
    req: reqwest::RequestBuilder,
    parse: ParseError,
    itsm: &str,
) -> Result<(u16, bytes::Bytes), CallFailure> {
    if let Pace::Wait(budget) = pace {
        budget.until_ready().await;
    }
    let mut req = authorize(req, auth);
    let span = tracing::info_span!("itsm.call", itsm);
    if let Some(tp) = span.in_scope(crate::telemetry::otlp::current_traceparent) {
        req = req.header(crate::telemetry::otlp::TRACEPARENT, tp);
    }
    let started = std::time::Instant::now();
    let sent = tracing::Instrument::instrument(req.send(), span).await;
    let label = match &sent {
        Ok(r) => r.status().as_u16().to_string(),
        Err(_) => "error".to_owned(),
    };
    metrics::histogram!(
        "itsm_bridge_itsm_request_seconds",
        "itsm" => itsm.to_ascii_lowercase(),
        "status" => label
    )
    .record(started.elapsed().as_secs_f64());
    let resp = sent.map_err(transport_failure)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(status_failure(status, &headers, parse(&body), itsm));
    }
    Ok((status, body))
}

/// Puts the tenant's credentials on a request.
pub fn authorize(req: reqwest::RequestBuilder, auth: &OutboundAuth) -> reqwest::RequestBuilder {
    match auth {
        OutboundAuth::Basic { username, password } => {
            req.basic_auth(username, Some(password.expose()))
        }
        OutboundAuth::Bearer { token } => req.bearer_auth(token.expose()),
    }
}

/// A transport error. Not connected means not sent (retry); anything later may have taken
/// effect (a journal append is not idempotent), so it is `Unknown`.
pub fn transport_failure(e: reqwest::Error) -> CallFailure {
    let class = if e.is_connect() || e.is_builder() {
        FailureClass::Retryable { retry_after: None }
    } else {
        FailureClass::Unknown
    };
    CallFailure {
        class,
        http_status: None,
        code: None,
        // reqwest's message can carry the URL, never credentials or bodies.
        message: format!("transport error: {}", e.without_url()),
    }
}

/// An error response: status class, `Retry-After`, and the remote's (code, message) as
/// extracted by the caller from the body.
pub fn status_failure(
    status: u16,
    headers: &HeaderMap,
    remote: Option<(Option<String>, String)>,
    what: &str,
) -> CallFailure {
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, time::OffsetDateTime::now_utc()));
    let (code, detail) = remote.unwrap_or((None, String::new()));
    let message = if detail.is_empty() {
        format!("{what} answered {status}")
    } else {
        format!("{what} answered {status}: {}", truncate(&detail, 300))
    };
    CallFailure {
        class: classify_status(status, retry_after),
        http_status: Some(status),
        code,
        message,
    }
}

/// A 2xx whose body is not what the API documents.
pub fn bad_response(status: u16, what: &str, why: &str) -> CallFailure {
    CallFailure {
        class: FailureClass::Unknown,
        http_status: Some(status),
        code: None,
        message: format!("{what} answered {status} with an unexpected body: {why}"),
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
