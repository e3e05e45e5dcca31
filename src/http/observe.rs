//! What every request leaves behind: its span, which carries the request id into every log
//! line of the request, and `itsm_bridge_http_request_seconds{route, method, status}` by the
//! matched route (never the raw path: tenant names and ids would make a series per value),
//! `unmatched` for requests no route took.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// The span of one request: `request_id` (the `X-Request-Id` the caller sent or the one
/// given to it), method and path (never the query string, which may carry a cursor or a
/// token someone put there).
pub fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(super::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A caller's W3C trace context is continued (the OTLP layer reads `traceparent`).
    let traceparent = req
        .headers()
        .get(crate::telemetry::otlp::TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (method, path) = (req.method(), req.uri().path());
    // Probes and scrapes arrive every few seconds: at DEBUG their spans stay out of the traces
    // (the OTLP layer takes INFO and above) and out of the log unless asked for.
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        tracing::debug_span!("request", request_id = %id, %method, path, traceparent)
    } else {
        tracing::info_span!("request", request_id = %id, %method, path, traceparent)
    }
}

pub async fn record(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics::histogram!(
        "itsm_bridge_http_request_seconds",
        "route" => route,
        "method" => method,
        "status" => resp.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    resp
}
