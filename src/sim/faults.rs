//! Fault injection, the latency knob and the journal, as one middleware in front of every
//! simulated API (not `/_sim`).
//!
//! A fault strikes in one of two phases, and the difference matters to the client:
//! - `before`: the request never takes effect (nothing created, no note added);
//! - `after`: the request takes effect, then its response is replaced by the fault. `drop`
//!   or `timeout` in this phase is "create applied, response lost", which is what exercises
//!   the client's lookup-by-external-reference.

use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::error::{OrangeError, jira_error, servicenow_error};
pub use super::fault_settings::{FaultKind, FaultSettings, HeaderMatch, Phase, ScriptedFault};
use super::journal::{Entry, body_text, safe_headers};
use super::state::{SimState, lock};

/// Largest request body the simulators read (attachments included).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The middleware: journal, latency, faults.
pub async fn layer(State(st): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return OrangeError::code(66).into_response(),
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let entry = Entry {
        seq: 0,
        // Arrival time: what a rate limit counts. (Stamping it when the answer left put calls
        // held by a latency or timeout fault into a later second than they arrived in.)
        time: super::state::now_stamp(),
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        headers: safe_headers(&parts.headers),
        body: body_text(&bytes),
        status: 0,
        fault: None,
    };
    let (latency, timeout, fault) = {
        let mut f = lock(&st.faults);
        (
            f.latency_ms,
            f.timeout_ms,
            f.pick(&method, &path, &parts.headers),
        )
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    // Journaled even when the client hangs up while a fault holds the answer (its future is
    // dropped then): a call applied before the hang-up must still show in the journal.
    let mut pending = Pending {
        st: st.clone(),
        entry: Some(entry),
    };
    let resp = match fault {
        None => next.run(req).await,
        Some((kind, phase)) => {
            if let Some(e) = pending.entry.as_mut() {
                e.fault = Some(format!("{}:{}", kind_name(kind), phase_name(phase)));
            }
            if phase == Phase::After {
                let _applied = next.run(req).await;
            }
            tracing::debug!(sim.fault = ?kind, sim.phase = ?phase, path = %path, "injecting fault");
            fault_response(kind, &path, timeout).await
        }
    };
    if let Some(e) = pending.entry.as_mut() {
        e.status = match fault {
            Some((FaultKind::Drop, _)) => 0,
            _ => resp.status().as_u16(),
        };
    }
    drop(pending);
    resp
}

/// A journal entry pushed when dropped: at the end of the call, or when the client hung up
/// (then with status 0).
struct Pending {
    st: Arc<SimState>,
    entry: Option<Entry>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(e) = self.entry.take() {
            lock(&self.st.journal).push(e);
        }
    }
}

fn kind_name(k: FaultKind) -> &'static str {
    match k {
        FaultKind::TooManyRequests => "too_many_requests",
        FaultKind::ServerError => "server_error",
        FaultKind::Unavailable => "unavailable",
        FaultKind::Timeout => "timeout",
        FaultKind::Drop => "drop",
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Before => "before",
        Phase::After => "after",
        Phase::Mixed => "mixed",
    }
}

/// The response a fault produces, shaped like the API family of `path`.
async fn fault_response(kind: FaultKind, path: &str, timeout_ms: u64) -> Response {
    let status = match kind {
        FaultKind::Drop => return dropped_connection(),
        FaultKind::Timeout => {
            tokio::time::sleep(Duration::from_millis(timeout_ms)).await;
            StatusCode::GATEWAY_TIMEOUT
        }
        FaultKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        FaultKind::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        FaultKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    if path.starts_with("/api/now") {
        let msg = match status {
            StatusCode::TOO_MANY_REQUESTS => "Rate limit exceeded",
            _ => "Server error",
        };
        return servicenow_error(status, msg, "Injected by the simulator");
    }
    if path.starts_with("/rest/") {
        return jira_error(
            status,
            &["Injected by the simulator"],
            serde_json::json!({}),
        );
    }
    match status {
        StatusCode::GATEWAY_TIMEOUT => OrangeError::gateway_timeout(),
        StatusCode::TOO_MANY_REQUESTS => OrangeError::code(53),
        StatusCode::SERVICE_UNAVAILABLE => OrangeError::code(5),
        _ => OrangeError::code(1),
    }
    .into_response()
}

/// A response whose body fails before its first byte: hyper then closes the connection
/// without writing the buffered status line, so the client sees the connection drop.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, _>(std::io::Error::other("simulated dropped connection"))
    });
    Body::from_stream(stream).into_response()
}
