//! The settings of a simulator instance (`itsm-bridge sim` flags, the sandbox's choices).

use std::time::Duration;

use super::inferred::Inferred;

/// Settings of a simulator instance.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Share of API calls answered with an injected fault (0.0–1.0).
    pub fault_rate: f64,
    /// Added latency of every call, in milliseconds.
    pub latency_ms: u64,
    /// Requests per second allowed per Orange credential (`None` = unlimited).
    pub rate_limit: Option<u32>,
    pub client_id: String,
    pub client_secret: String,
    pub api_key: String,
    /// Basic credentials the ServiceNow and Jira simulators accept.
    pub itsm_username: String,
    pub itsm_password: String,
    /// Bearer token the ServiceNow and Jira simulators accept (OAuth / Jira DC PAT).
    pub itsm_bearer_token: String,
    /// `expires_in` of issued Orange tokens (the live default is 3600).
    pub token_lifetime_secs: u64,
    /// Token requests allowed per client id and minute (Orange documents 50).
    pub token_rate_limit_per_min: u32,
    /// A missing or wrong `X-Api-Key` gets 403 code 50 instead of 401 code 40/41 (undocumented).
    pub api_key_forbidden: bool,
    /// How long a `timeout` fault holds the request before answering 504.
    pub timeout_ms: u64,
    /// Journal entries kept (oldest dropped first); 0 disables the journal.
    pub journal_capacity: usize,
    /// Orange-side life: advance everything open one step this often (`None`: only on command).
    pub life_interval: Option<Duration>,
    /// Base path of Wholesale Trouble Tickets (not public; inferred).
    pub wholesale_base: String,
    /// The inferred-behaviour switches at start (`/_sim/reset` returns to these);
    /// `api_key_forbidden` overrides `inferred.api_key_failure` when set.
    pub inferred: Inferred,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            fault_rate: 0.0,
            latency_ms: 0,
            rate_limit: None,
            client_id: "sandbox".into(),
            client_secret: "sandbox-secret".into(),
            api_key: "sandbox-api-key".into(),
            itsm_username: "sandbox".into(),
            itsm_password: "sandbox".into(),
            itsm_bearer_token: "sandbox-token".into(),
            token_lifetime_secs: 3600,
            token_rate_limit_per_min: 50,
            api_key_forbidden: false,
            timeout_ms: 30_000,
            journal_capacity: 20_000,
            life_interval: None,
            wholesale_base: "/troubleticket/wholesale/v1".into(),
            inferred: Inferred::default(),
        }
    }
}
