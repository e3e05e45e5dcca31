//! What faults the simulators inject: the kinds, when they strike, scripted faults matched
//! by header, and the settings `/_sim/faults` changes. Data only; the middleware that applies
//! them is `faults::layer`.

use serde::{Deserialize, Serialize};

use super::options::SimOptions;

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
    pub(super) fn pick(
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
