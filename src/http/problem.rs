//! RFC 9457 `application/problem+json` errors with stable `type` and `code`.
//!
//! Every error the gateway answers goes through [`Problem`]; core code never picks status
//! codes, the mapping from domain errors to problems lives here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Base of the `type` URIs; the code is appended.
const TYPE_BASE: &str = "https://itsm-bridge.dev/problems/";

/// Stable error codes (the last segment of `type`, and `code`).
pub mod codes {
    pub const MALFORMED_JSON: &str = "malformed-json";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const UNKNOWN_TENANT: &str = "unknown-tenant";
    pub const UNKNOWN_SOURCE: &str = "unknown-source";
    pub const NOT_FOUND: &str = "not-found";
    pub const BODY_TOO_LARGE: &str = "body-too-large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported-media-type";
    pub const SCHEMA_VIOLATION: &str = "schema-violation";
    pub const MAPPING_REJECTED: &str = "mapping-rejected";
    pub const TENANT_REJECTED: &str = "tenant-rejected";
    pub const BACKLOG_FULL: &str = "backlog-full";
    pub const STORE_UNAVAILABLE: &str = "store-unavailable";
    pub const BAD_REQUEST: &str = "bad-request";
    pub const CONFLICT: &str = "conflict";
    /// `POST /admin/v1/links`: the ticket (or the Orange object) is linked to another one.
    pub const ALREADY_LINKED: &str = "already-linked";
    pub const INTERNAL: &str = "internal";
    /// The store refused this one event's data (not an outage: retrying will not help).
    pub const STORE_REJECTED: &str = "store-rejected";
    /// The body did not arrive within `server.body_read_timeout_secs`.
    pub const REQUEST_TIMEOUT: &str = "request-timeout";
    /// The bodies of other requests hold the memory budget (`server.max_body_bytes_in_flight`).
    pub const SERVER_BUSY: &str = "server-busy";
    /// The request line or headers are larger than the server reads.
    pub const HEADERS_TOO_LARGE: &str = "headers-too-large";
    pub const URI_TOO_LONG: &str = "uri-too-long";
    pub const METHOD_NOT_ALLOWED: &str = "method-not-allowed";
    /// A handler took longer than the gateway allows (another 5xx than a store outage).
    pub const UNAVAILABLE: &str = "unavailable";
    /// A ticket name (number, id, Orange id) that fits several tickets; see `candidates`.
    pub const TICKET_AMBIGUOUS: &str = "ticket-ambiguous";
    /// The admin token is valid but may not do this (a viewer acting, a tenant outside its
    /// scope named in a filter).
    pub const FORBIDDEN: &str = "forbidden";
}

/// A problem+json response (boxed: it travels in `Err` on every hot path).
#[derive(Debug, Clone)]
pub struct Problem(Box<ProblemBody>);

impl std::ops::Deref for Problem {
    type Target = ProblemBody;
    fn deref(&self) -> &ProblemBody {
        &self.0
    }
}
impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemBody {
        &mut self.0
    }
}

/// The fields of a problem+json body.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// JSON pointer in the request body that failed (schema and mapping rejections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The mapping rule that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Every error, when there are several (schema violations).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemItem>,
    /// What the request could have meant, when it was ambiguous (`ticket-ambiguous`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<serde_json::Value>,
    #[serde(skip)]
    pub retry_after: Option<u64>,
    #[serde(skip)]
    pub www_authenticate: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProblemItem {
    pub pointer: String,
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self(Box::new(ProblemBody {
            kind: format!("{TYPE_BASE}{code}"),
            title,
            status: status.as_u16(),
            code,
            detail: None,
            pointer: None,
            rule: None,
            errors: Vec::new(),
            candidates: None,
            retry_after: None,
            www_authenticate: None,
        }))
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    pub fn pointer(mut self, p: impl Into<String>) -> Self {
        self.pointer = Some(p.into());
        self
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "Not found").detail(what)
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, "Bad request").detail(detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "Missing or invalid credentials",
        )
        .detail(detail);
        p.www_authenticate = Some("Bearer");
        p
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            "Not allowed for this token",
        )
        .detail(detail)
    }
    pub fn store_unavailable(retry_after: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::STORE_UNAVAILABLE,
            "The gateway cannot store events right now",
        )
        .detail("the event was not accepted; send it again later")
        .retry_after(retry_after)
    }
    /// The problem for a status some layer answered without one (the router's rejections,
    /// a timeout): the code follows the status.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, title) = match status {
            StatusCode::BAD_REQUEST => (codes::BAD_REQUEST, "Bad request"),
            StatusCode::UNAUTHORIZED => (codes::UNAUTHORIZED, "Missing or invalid credentials"),
            StatusCode::NOT_FOUND => (codes::NOT_FOUND, "Not found"),
            StatusCode::METHOD_NOT_ALLOWED => (codes::METHOD_NOT_ALLOWED, "Method not allowed"),
            StatusCode::REQUEST_TIMEOUT => (codes::REQUEST_TIMEOUT, "Request timeout"),
            StatusCode::CONFLICT => (codes::CONFLICT, "Conflict"),
            StatusCode::PAYLOAD_TOO_LARGE => (codes::BODY_TOO_LARGE, "Body too large"),
            StatusCode::URI_TOO_LONG => (codes::URI_TOO_LONG, "URI too long"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (codes::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type")
            }
            StatusCode::UNPROCESSABLE_ENTITY => (codes::BAD_REQUEST, "Unprocessable request"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                (codes::HEADERS_TOO_LARGE, "Request headers too large")
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                (codes::UNAVAILABLE, "Service unavailable")
            }
            s if s.is_server_error() => (codes::INTERNAL, "Internal error"),
            _ => (codes::BAD_REQUEST, "Bad request"),
        };
        Self::new(status, code, title)
    }
    pub fn request_timeout(secs: u64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            codes::REQUEST_TIMEOUT,
            "Request timeout",
        )
        .detail(format!("the body did not arrive within {secs} s"))
    }
    /// The event could not be stored because the store refused its data: never an outage.
    pub fn store_rejected() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::STORE_REJECTED,
            "The store refused this event",
        )
        .detail("the event was not accepted; the gateway's log names it by its event id")
    }
    /// The body as sent on the wire.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.0).unwrap_or_else(|_| b"{}".to_vec())
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "Internal error",
        )
    }
}

impl From<crate::store::StoreError> for Problem {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        match e {
            E::NotFound(what) => Problem::not_found(what),
            E::LeaseLost(what) => {
                Problem::new(StatusCode::CONFLICT, codes::CONFLICT, "Conflict").detail(what)
            }
            E::Unavailable(_) | E::Migration(_) => Problem::store_unavailable(5),
            E::Corrupt(_) => Problem::internal(),
            E::Rejected(_) => Problem::store_rejected(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_json();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(scheme) = self.www_authenticate {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        resp
    }
}

/// Bodies of other content types read for a problem's `detail` (the router's rejections are
/// one short line).
const MAX_DETAIL_BODY: usize = 4096;

/// Middleware: any 4xx or 5xx answer that is not already problem+json — the router's own
/// rejections (an undecodable path, an unknown method), a timeout layer's empty 503 — is
/// replaced by one, keeping its status and headers and quoting its text as `detail`.
pub async fn ensure_problem(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // The console's error pages are HTML for a browser, and stay so.
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("text/html"));
    if is_problem {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_DETAIL_BODY)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .filter(|t| !t.is_empty());
    let mut p = Problem::for_status(status);
    if let Some(t) = text {
        p = p.detail(t);
    }
    let fresh = p.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (k, v) in fresh.headers() {
        parts.headers.insert(k.clone(), v.clone());
    }
    Response::from_parts(parts, fresh.into_body())
}
