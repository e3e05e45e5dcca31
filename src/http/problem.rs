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
    pub const BACKLOG_FULL: &str = "backlog-full";
    pub const STORE_UNAVAILABLE: &str = "store-unavailable";
    pub const BAD_REQUEST: &str = "bad-request";
    pub const CONFLICT: &str = "conflict";
    pub const INTERNAL: &str = "internal";
    /// A ticket name (number, id, Orange id) that fits several tickets; see `candidates`.
    pub const TICKET_AMBIGUOUS: &str = "ticket-ambiguous";
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
    pub fn store_unavailable(retry_after: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::STORE_UNAVAILABLE,
            "The gateway cannot store events right now",
        )
        .detail("the event was not accepted; send it again later")
        .retry_after(retry_after)
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
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&*self.0).unwrap_or_else(|_| b"{}".to_vec());
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
