//! One Orange credential on the wire: its HTTP client, token source and rate limiter, the
//! headers every call carries, and the exchange loop (limiter → token → send → classify, with
//! one token refresh and one retry on 401 code 42).

use std::time::Duration;
use tracing::Instrument;

use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::config::{OrangeConfig, OrangeCredentials};
use crate::domain::{CallFailure, FailureClass};

use super::error;
use super::limiter::CredentialLimiter;
use super::token::TokenSource;

pub const X_API_KEY: &str = "x-api-key";
/// The default of `orange.inferred.application_id_header`.
pub const X_APPLICATION_ID: &str = "x-application-id";
/// Orange's "expired credentials" code on a 401.
const EXPIRED_TOKEN_CODE: &str = "42";

/// A 2xx answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What a request carries besides the common headers.
pub enum Payload {
    None,
    Json(serde_json::Value),
    /// Built per try (a multipart stream cannot be sent twice; see `attachment.rs`).
    Multipart(Box<dyn FnMut() -> Option<reqwest::multipart::Form> + Send>),
}

/// One credential, shared by every tenant that uses it.
pub struct Credential {
    pub http: reqwest::Client,
    pub tokens: TokenSource,
    pub limiter: CredentialLimiter,
    api_key: String,
    /// The Wholesale `ApplicationID` and the header that carries it.
    application_id: Option<(http::HeaderName, String)>,
}

impl Credential {
    pub fn new(
        orange: &OrangeConfig,
        creds: &OrangeCredentials,
        base: &url::Url,
        label: &str,
    ) -> Result<Self, url::ParseError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(orange.timeout_ms))
            .connect_timeout(Duration::from_millis(orange.timeout_ms.min(5_000)))
            .pool_max_idle_per_host(256)
            .build()
            // Only fails when the TLS backend cannot initialise: a broken build, not input.
            .expect("the HTTP client builds");
        let token_url = base.join(orange.token_path.trim_start_matches('/'))?;
        let tokens = TokenSource::new(
            http.clone(),
            token_url,
            &creds.client_id,
            creds.client_secret.expose(),
            Duration::from_secs(orange.token_refresh_margin_secs),
            orange.token_requests_per_minute,
        );
        Ok(Self {
            http,
            tokens,
            limiter: CredentialLimiter::new(creds.rate_limit, label),
            api_key: creds.api_key.expose().to_owned(),
            application_id: creds.application_id.clone().map(|id| {
                // Validated with the config; the documented default if it was not.
                let name =
                    http::HeaderName::from_bytes(orange.inferred.application_id_header.as_bytes())
                        .unwrap_or(http::HeaderName::from_static(X_APPLICATION_ID));
                (name, id)
            }),
        })
    }

    /// Sends one call and classifies its outcome. `api` labels metrics; `language` is the
    /// tenant's `Accept-Language`.
    pub async fn exchange(
        &self,
        api: &'static str,
        method: Method,
        url: url::Url,
        language: Option<&str>,
        mut payload: Payload,
    ) -> Result<Answer, CallFailure> {
        let mut refreshed = false;
        loop {
            let token = self.tokens.get().await?;
            self.limiter.until_ready().await;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .header(X_API_KEY, &self.api_key)
                .header(http::header::ACCEPT, "application/json");
            if let Some(lang) = language {
                req = req.header(http::header::ACCEPT_LANGUAGE, lang);
            }
            if let Some((name, app)) = &self.application_id {
                req = req.header(name.clone(), app);
            }
            req = match &mut payload {
                Payload::None => req,
                Payload::Json(v) => req.json(v),
                Payload::Multipart(make) => match make() {
                    Some(form) => req.multipart(form),
                    None => {
                        return Err(CallFailure {
                            class: FailureClass::Retryable { retry_after: None },
                            http_status: None,
                            code: None,
                            message: "attachment upload must be restarted".into(),
                        });
                    }
                },
            };
            match self.send_once(api, req).await {
                Err(f) if !refreshed && is_expired_token(&f) => {
                    tracing::debug!(orange.api = api, "token expired at Orange; refreshing once");
                    self.tokens.invalidate(&token).await;
                    refreshed = true;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        api: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<Answer, CallFailure> {
        let span = tracing::info_span!("orange.call", orange.api = api);
        self.send_traced(api, req).instrument(span).await
    }

    /// One exchange, inside its `orange.call` span, whose context goes to Orange as W3C
    /// `traceparent`.
    async fn send_traced(
        &self,
        api: &'static str,
        mut req: reqwest::RequestBuilder,
    ) -> Result<Answer, CallFailure> {
        if let Some(tp) = crate::telemetry::otlp::current_traceparent() {
            req = req.header(crate::telemetry::otlp::TRACEPARENT, tp);
        }
        let started = std::time::Instant::now();
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                super::metrics::request(api, "error", started.elapsed());
                return Err(error::from_transport(&e));
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await;
        super::metrics::request(api, &status.to_string(), started.elapsed());
        let body = match body {
            Ok(b) => b,
            // The status line arrived, so the call reached Orange; for an error status the
            // classification of the status stands, for a success the effect happened.
            Err(e) if (200..300).contains(&status) => {
                return Err(error::unreadable(status, &e.to_string()));
            }
            Err(_) => Bytes::new(),
        };
        if (200..300).contains(&status) {
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
        let failure = error::from_response(status, &headers, &body);
        if matches!(status, 429 | 503)
            && let Some(ra) = failure.retry_after()
        {
            self.limiter.pause_for(ra);
        }
        Err(failure)
    }
}

fn is_expired_token(f: &CallFailure) -> bool {
    f.http_status == Some(401) && f.code.as_deref() == Some(EXPIRED_TOKEN_CODE)
}
