//! One classification of every Orange outcome into a [`CallFailure`]: HTTP statuses through
//! `domain::classify_status`, the Orange error body (`{code, message, description}` or an array
//! of them) into the code and message the operator sees, and transport errors by whether the
//! request may have reached Orange.

use std::time::Duration;

use http::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::outcome::parse_retry_after;
use crate::domain::{CallFailure, FailureClass, classify_status};

/// Orange's common error body. `code` is an integer in Orange's APIs and a string in TMF
/// shapes; both are kept as text.
#[derive(Debug, Clone, Deserialize)]
struct OrangeErrorBody {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// RFC 6749 token errors (`{error, error_description}`).
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Code and human message parsed from an error body; `None` when the body is not an Orange
/// error (HTML from a proxy, empty).
pub fn parse_error_body(body: &[u8]) -> Option<(Option<String>, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let first = match v {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        Value::Object(_) => v,
        _ => return None,
    };
    let e: OrangeErrorBody = serde_json::from_value(first).ok()?;
    let code = match e.code {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
    .or(e.error);
    let message = [e.message, e.description.or(e.error_description)]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    if code.is_none() && message.is_empty() {
        return None;
    }
    Some((code, message))
}

/// The `Retry-After` of a response, if any.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, time::OffsetDateTime::now_utc())
}

/// The failure an error response stands for.
pub fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> CallFailure {
    let ra = retry_after(headers);
    let (code, detail) = parse_error_body(body).unwrap_or((None, String::new()));
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    let message = if detail.is_empty() {
        format!("Orange answered {status} {reason}")
    } else {
        format!("Orange answered {status} {reason}: {detail}")
    };
    CallFailure {
        class: classify_status(status, ra),
        http_status: Some(status),
        code,
        message,
    }
}

/// The failure a transport error stands for. A connection that could not be opened never
/// carried the request (retryable); a timeout or a reset after that may have been applied
/// (unknown).
pub fn from_transport(e: &reqwest::Error) -> CallFailure {
    let class = if e.is_connect() || e.is_builder() {
        FailureClass::Retryable { retry_after: None }
    } else {
        FailureClass::Unknown
    };
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    CallFailure {
        class,
        http_status: None,
        code: None,
        // The error's Display carries the URL (no secrets there) and the cause.
        message: format!("Orange call {what}: {}", without_url_query(e)),
    }
}

/// A transport error's text without the URL's query string (which may hold filter values).
fn without_url_query(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url()
        && let Some(q) = url.query()
    {
        s = s.replace(&format!("?{q}"), "");
    }
    s
}

/// A failure found on our side before or after the call (bad response, missing link…).
pub fn permanent(message: impl Into<String>) -> CallFailure {
    CallFailure::permanent(message)
}

/// A failure of a response Orange sent that we cannot read (it did answer 2xx, so the call
/// took effect: retrying a create would duplicate it).
pub fn unreadable(status: u16, what: &str) -> CallFailure {
    CallFailure {
        class: FailureClass::Unknown,
        http_status: Some(status),
        code: None,
        message: format!("Orange answered {status} with an unreadable body: {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_and_array_bodies_give_the_same_code_and_message() {
        let obj = br#"{"code":28,"message":"Invalid query-string parameter value","description":"limit"}"#;
        let arr = br#"[{"code":28,"message":"Invalid query-string parameter value","description":"limit"},{"code":1}]"#;
        let a = parse_error_body(obj).unwrap();
        let b = parse_error_body(arr).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.0.as_deref(), Some("28"));
        assert_eq!(a.1, "Invalid query-string parameter value: limit");
    }

    #[test]
    fn token_errors_and_garbage_are_handled() {
        let t =
            parse_error_body(br#"{"error":"invalid_client","error_description":"bad"}"#).unwrap();
        assert_eq!(t, (Some("invalid_client".into()), "bad".into()));
        assert_eq!(parse_error_body(b"<html>"), None);
        assert_eq!(parse_error_body(b"[]"), None);
    }

    #[test]
    fn a_429_with_retry_after_is_retryable_with_its_duration() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        let f = from_response(429, &h, br#"{"code":53,"message":"Too many requests"}"#);
        assert_eq!(f.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(f.code.as_deref(), Some("53"));
        let f = from_response(400, &HeaderMap::new(), b"");
        assert_eq!(f.class, FailureClass::Permanent);
        assert_eq!(f.message, "Orange answered 400 Bad Request");
    }
}
