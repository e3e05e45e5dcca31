//! Error bodies as each simulated API sends them: Orange's `{code, message, description}`
//! (plus `infoURL` on Wholesale), ServiceNow's `{"error":{message,detail},"status":"failure"}`
//! and Jira's `{"errorMessages":[…],"errors":{…}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `Retry-After` value (seconds) sent with every simulated 429.
pub const RETRY_AFTER_SECS: u64 = 1;

/// An Orange API error: the HTTP status and body follow the code table of the docs.
#[derive(Debug, Clone)]
pub struct OrangeError {
    pub status: StatusCode,
    pub code: u16,
    pub message: &'static str,
    pub description: String,
    /// Wholesale Trouble Tickets adds `infoURL` to its error body.
    pub info_url: bool,
}

impl OrangeError {
    /// The error for `code`, with the label and description the Orange docs give it.
    pub fn code(code: u16) -> Self {
        let (status, message, description) = describe(code);
        Self {
            status,
            code,
            message,
            description: description.to_owned(),
            info_url: false,
        }
    }

    /// Same code, a more precise description (e.g. which field is missing).
    pub fn with(code: u16, description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            ..Self::code(code)
        }
    }

    /// Wholesale's 422 business error (its code is undocumented: the sim uses 0, as the docs'
    /// template body does).
    pub fn business(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: 0,
            message: "Unprocessable entity",
            description: description.into(),
            info_url: true,
        }
    }

    /// 504 code 6, what Orange's gateway answers when its backend is too slow.
    pub fn gateway_timeout() -> Self {
        Self {
            status: StatusCode::GATEWAY_TIMEOUT,
            code: 6,
            message: "Gateway timeout",
            description:
                "No response was received in time from a backend server acting as gateway or proxy."
                    .into(),
            info_url: false,
        }
    }

    pub fn wholesale(mut self) -> Self {
        self.info_url = true;
        self
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "code": self.code,
            "message": self.message,
            "description": self.description,
        });
        if self.info_url {
            body["infoURL"] = json!(
                "https://developer.orange.com/apis/orange-wholesale-international-trouble-tickets"
            );
        }
        body
    }
}

impl IntoResponse for OrangeError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        resp
    }
}

fn describe(code: u16) -> (StatusCode, &'static str, &'static str) {
    use StatusCode as S;
    match code {
        5 => (
            S::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable",
            "The service in charge of the requested endpoint is temporarily unavailable or unreachable.",
        ),
        6 => (
            S::SERVICE_UNAVAILABLE,
            "Orange API is over capacity, retry later !",
            "The service faces too much requests and can not handle the call.",
        ),
        20 => (
            S::BAD_REQUEST,
            "Invalid URL parameter value",
            "One or more parameters in the URL are invalid values.",
        ),
        21 => (
            S::BAD_REQUEST,
            "Missing body",
            "The server was expecting a body to be sent within the request.",
        ),
        22 => (
            S::BAD_REQUEST,
            "Invalid body",
            "The body sent within the request is not valid.",
        ),
        23 => (
            S::BAD_REQUEST,
            "Missing body field",
            "One or more mandatory fields are missing in the body.",
        ),
        24 => (
            S::BAD_REQUEST,
            "Invalid body field",
            "One or more fields of the body contain invalid values.",
        ),
        25 => (
            S::BAD_REQUEST,
            "Missing header",
            "One or more required headers are missing.",
        ),
        26 => (
            S::BAD_REQUEST,
            "Invalid header value",
            "One or more headers contain invalid values.",
        ),
        27 => (
            S::BAD_REQUEST,
            "Missing query-string parameter",
            "One or more required query-string parameters are missing.",
        ),
        28 => (
            S::BAD_REQUEST,
            "Invalid query-string parameter value",
            "One or more query-string parameters contain invalid values.",
        ),
        40 => (
            S::UNAUTHORIZED,
            "Missing credentials",
            "The requested service needs credentials, but none were provided.",
        ),
        41 => (
            S::UNAUTHORIZED,
            "Invalid credentials",
            "The requested service needs credentials, but the ones provided were invalid.",
        ),
        42 => (
            S::UNAUTHORIZED,
            "Expired credentials",
            "The requested service needs credentials, and the ones provided were out-of-date.",
        ),
        50 => (
            S::FORBIDDEN,
            "Access denied",
            "The application that makes the request is not authorized to access this endpoint.",
        ),
        53 => (
            S::TOO_MANY_REQUESTS,
            "Too many requests",
            "The application has made too many calls and has exceeded the rate limit for this service.",
        ),
        60 => (
            S::NOT_FOUND,
            "Resource not found",
            "The requested URI or the requested resource does not exist.",
        ),
        61 => (
            S::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "The URI does not support the requested method. The available methods should be set in the response header 'Allow'",
        ),
        62 => (
            S::NOT_ACCEPTABLE,
            "Not acceptable",
            "The Accept incoming header does not match any available content-type.",
        ),
        63 => (
            S::REQUEST_TIMEOUT,
            "Request time-out",
            "The server timed out waiting for the incoming request.",
        ),
        66 => (
            S::PAYLOAD_TOO_LARGE,
            "Request entity too large",
            "The body of the request/response (PATCH, POST and PUT methods) is larger than the server is willing or able to process.",
        ),
        68 => (
            S::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "The format of the posted body is not supported by the endpoint.",
        ),
        69 => (
            S::CONFLICT,
            "Conflict",
            "The request could not be completed due to a conflict with the current state of the resource.",
        ),
        _ => (
            S::INTERNAL_SERVER_ERROR,
            "Internal error",
            "Generic failure message, used if no more precise code can be provided.",
        ),
    }
}

/// A ServiceNow REST error.
pub fn servicenow_error(status: StatusCode, message: &str, detail: &str) -> Response {
    let body = json!({"error": {"message": message, "detail": detail}, "status": "failure"});
    let mut resp = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    resp
}

/// A Jira REST error.
pub fn jira_error(status: StatusCode, messages: &[&str], errors: Value) -> Response {
    let body = json!({"errorMessages": messages, "errors": errors});
    let mut resp = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    resp
}
