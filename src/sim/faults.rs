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
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::SimOptions;
use super::error::{OrangeError, jira_error, servicenow_error};
use super::journal::{Entry, body_text, safe_headers};
use super::state::{SimState, lock};

/// Largest request body the simulators read (attachments included).
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with `Retry-After` (Orange code 53).
    TooManyRequests,
    /// 500 (Orange code 1).
    ServerError,
    /// 503 (Orange code 5).
    Unavailable,
    /// Hold the request `timeout_ms`, then answer 504.
    Timeout,
    /// Close the connection without any response.
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Before,
    After,
    /// Random faults only: each one picks before or after with equal odds.
    Mixed,
}

/// A fault for the next matching request(s), for deterministic tests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScriptedFault {
    pub kind: FaultKind,
    #[serde(default)]
    pub phase: Phase,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only requests carrying this header with exactly this value, so one caller's calls can
    /// be faulted while another's pass on the same paths: a tenant's `Accept-Language` or
    /// `X-Application-Id` towards Orange, its `Authorization` towards an ITSM.
    #[serde(default)]
    pub header: Option<HeaderMatch>,
    /// How many matching requests it strikes (default 1).
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// A request header a scripted fault requires (name case-insensitive, value exact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    pub name: String,
    pub value: String,
}

impl HeaderMatch {
    fn matches(&self, headers: &axum::http::HeaderMap) -> bool {
        headers
            .get_all(self.name.as_str())
            .iter()
            .any(|v| v.as_bytes() == self.value.as_bytes())
    }
}

/// Fault settings, changeable at runtime through `POST /_sim/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Share of calls (0.0–1.0) that get a random fault.
    pub rate: f64,
    /// Kinds random faults are drawn from.
    pub kinds: Vec<FaultKind>,
    pub phase: Phase,
    /// Random faults only hit paths with this prefix (`None`: every API path).
    pub path_prefix: Option<String>,
    /// Added latency of every call.
    pub latency_ms: u64,
    /// How long a `timeout` fault holds the request.
    pub timeout_ms: u64,
    /// Faults for the next matching requests, consumed in order before random ones.
    pub script: Vec<ScriptedFault>,
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self::from_options(&SimOptions::default())
    }
}

impl FaultSettings {
    pub fn from_options(opts: &SimOptions) -> Self {
        Self {
            rate: opts.fault_rate,
            kinds: vec![
                FaultKind::TooManyRequests,
                FaultKind::ServerError,
                FaultKind::Unavailable,
                FaultKind::Timeout,
                FaultKind::Drop,
            ],
            phase: Phase::Before,
            path_prefix: None,
            latency_ms: opts.latency_ms,
            timeout_ms: opts.timeout_ms,
            script: Vec::new(),
        }
    }

    /// The fault (if any) for this request; consumes scripted faults.
    fn pick(
        &mut self,
        method: &str,
        path: &str,
        headers: &axum::http::HeaderMap,
    ) -> Option<(FaultKind, Phase)> {
        let hit = self.script.iter().position(|f| {
            f.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
                && f.header.as_ref().is_none_or(|h| h.matches(headers))
        });
        if let Some(i) = hit {
            let f = &mut self.script[i];
            let picked = (f.kind, f.phase);
            f.times = f.times.saturating_sub(1);
            if f.times == 0 {
                self.script.remove(i);
            }
            return Some(resolve(picked));
        }
        let in_scope = self
            .path_prefix
            .as_deref()
            .is_none_or(|p| path.starts_with(p));
        if self.rate <= 0.0
            || self.kinds.is_empty()
            || !in_scope
            || rand::random::<f64>() >= self.rate
        {
            return None;
        }
        let kind = self.kinds[rand::random_range(0..self.kinds.len())];
        Some(resolve((kind, self.phase)))
    }
}

fn resolve((kind, phase): (FaultKind, Phase)) -> (FaultKind, Phase) {
    match phase {
        Phase::Mixed if rand::random::<bool>() => (kind, Phase::After),
        Phase::Mixed => (kind, Phase::Before),
        p => (kind, p),
    }
}

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
