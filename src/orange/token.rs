//! OAuth v3 client-credentials tokens, one source per Orange credential.
//!
//! A token is cached until `expires_in - margin`; concurrent callers that find it stale wait
//! on one refresh (single flight, the mutex is held across the request); a token Orange
//! declared expired (401 code 42) is invalidated once, however many calls saw it; and token
//! requests are kept under Orange's per-minute limit with a sliding window, because a token
//! storm is exactly what gets a credential locked out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::domain::CallFailure;

use super::error;

/// A bearer token; never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<str>);

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Cached {
    token: Token,
    renew_at: Instant,
}

struct State {
    cached: Option<Cached>,
    /// When the last token requests were sent, oldest first (at most `per_minute`).
    recent: VecDeque<Instant>,
}

/// Tokens of one credential.
pub struct TokenSource {
    http: reqwest::Client,
    url: url::Url,
    basic: String,
    margin: Duration,
    per_minute: usize,
    state: Mutex<State>,
}

impl TokenSource {
    pub fn new(
        http: reqwest::Client,
        url: url::Url,
        client_id: &str,
        client_secret: &str,
        margin: Duration,
        per_minute: u32,
    ) -> Self {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{client_secret}"));
        Self {
            http,
            url,
            basic: format!("Basic {basic}"),
            margin,
            per_minute: per_minute.max(1) as usize,
            state: Mutex::new(State {
                cached: None,
                recent: VecDeque::new(),
            }),
        }
    }

    /// A valid token: the cached one, or a fresh one (one request for all waiting callers).
    pub async fn get(&self) -> Result<Token, CallFailure> {
        let mut st = self.state.lock().await;
        if let Some(c) = &st.cached
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        self.wait_for_budget(&mut st).await;
        let (token, lifetime) = self.request().await?;
        let lifetime = lifetime
            .saturating_sub(self.margin)
            .max(Duration::from_secs(1));
        st.cached = Some(Cached {
            token: token.clone(),
            renew_at: Instant::now() + lifetime,
        });
        Ok(token)
    }

    /// Forgets `stale` (Orange said it expired). A token already replaced by another caller's
    /// refresh is kept, so N calls failing on one expired token cause one refresh.
    pub async fn invalidate(&self, stale: &Token) {
        let mut st = self.state.lock().await;
        if st.cached.as_ref().is_some_and(|c| &c.token == stale) {
            st.cached = None;
        }
    }

    /// Sleeps until one more token request fits in the last minute's budget.
    async fn wait_for_budget(&self, st: &mut State) {
        let minute = Duration::from_secs(60);
        let now = Instant::now();
        while st
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= minute)
        {
            st.recent.pop_front();
        }
        if st.recent.len() >= self.per_minute
            && let Some(oldest) = st.recent.pop_front()
        {
            tracing::warn!(
                "token request budget of {} per minute spent; waiting",
                self.per_minute
            );
            tokio::time::sleep_until(oldest + minute).await;
        }
        st.recent.push_back(Instant::now());
    }

    async fn request(&self) -> Result<(Token, Duration), CallFailure> {
        let started = std::time::Instant::now();
        let resp = self
            .http
            .post(self.url.clone())
            .header(http::header::AUTHORIZATION, &self.basic)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                super::metrics::request("token", "error", started.elapsed());
                // Asking for a token twice is harmless: never "unknown".
                let mut f = error::from_transport(&e);
                f.class = crate::domain::FailureClass::Retryable { retry_after: None };
                return Err(f);
            }
        };
        let status = resp.status().as_u16();
        super::metrics::request("token", &status.to_string(), started.elapsed());
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| error::from_transport(&e))?;
        if !(200..300).contains(&status) {
            let mut f = error::from_response(status, &headers, &body);
            f.message = format!("token request refused: {}", f.message);
            return Err(f);
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| error::unreadable(status, &format!("token response: {e}")))?;
        let lifetime = Duration::from_secs(t.expires_in.unwrap_or(3600));
        Ok((Token(t.access_token.into()), lifetime))
    }
}
