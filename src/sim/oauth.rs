//! Orange OAuth v3 (`POST /oauth/v3/token`) as recorded from the live endpoint, and the
//! guard every Orange API route sits behind: bearer token (401 codes 40/41/42), `X-Api-Key`
//! and the per-credential rate limit (429 code 53).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::error::OrangeError;
use super::state::{SimState, Token};

pub const API_KEY_HEADER: &str = "x-api-key";
const WWW_AUTHENTICATE: &str = "Basic realm=\"Authorization Required\"";

/// Who called: the client id behind the bearer token.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// `POST /oauth/v3/token`.
pub async fn token(State(st): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    // Strict on purpose: Orange requires `Accept: application/json`; a client sending only
    // `*/*` (reqwest's default) is treated as one that omitted it.
    if !accept.is_some_and(|a| a.contains("application/json")) {
        return OrangeError::code(62).into_response();
    }
    let client_id = match basic_credentials(&headers) {
        Err(desc) => return invalid_client(desc),
        Ok((id, secret)) if id == st.opts.client_id && secret == st.opts.client_secret => id,
        Ok(_) => {
            return invalid_client(
                "The requested service needs credentials, but the ones provided were invalid.",
            );
        }
    };
    let grant = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned());
    match grant.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The grant type is not supported.",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant_type parameter.",
            );
        }
    }
    if let Err(wait) = st.take(&client_id, "token", 60, st.opts.token_rate_limit_per_min) {
        let mut resp = StatusCode::TOO_MANY_REQUESTS.into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
        return resp;
    }
    let lifetime = st.opts.token_lifetime_secs;
    let access_token = mint(&client_id, lifetime);
    let token = Token {
        client_id,
        expires_at: OffsetDateTime::now_utc() + Duration::seconds(lifetime as i64),
    };
    st.tokens
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(access_token.clone(), token);
    // The live endpoint answers pretty-printed, starting with a newline, in this key order.
    let body = format!(
        "\n{{\n    \"token_type\": \"Bearer\",\n    \"access_token\": \"{access_token}\",\n    \"expires_in\": {lifetime}\n}}"
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Result<(String, String), &'static str> {
    const UNDECODABLE: &str = "Unable to decode Basic authorization.";
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("The requested service needs credentials, but the ones provided were invalid.")?;
    let encoded = value.strip_prefix("Basic ").ok_or(UNDECODABLE)?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| UNDECODABLE)?;
    let text = String::from_utf8(decoded).map_err(|_| UNDECODABLE)?;
    let (id, secret) = text.split_once(':').ok_or(UNDECODABLE)?;
    Ok((id.to_owned(), secret.to_owned()))
}

fn invalid_client(description: &str) -> Response {
    let mut resp = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(WWW_AUTHENTICATE),
    );
    resp
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// A JWT-shaped token with the claims the live endpoint issues (the signature is random:
/// clients must treat the token as opaque).
fn mint(client_id: &str, lifetime: u64) -> String {
    let iat = OffsetDateTime::now_utc().unix_timestamp();
    let head = json!({"ver": "1.0", "typ": "JWT", "alg": "ES384", "kid": "sim"});
    let claims = json!({
        "app_name": "itsm-bridge-sim", "sub": client_id, "iss": "https://api.orange.com/oauth/v3",
        "exp": iat + lifetime as i64, "app_id": client_id, "iat": iat, "client_id": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let sig: [u8; 32] = rand::random();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(head.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// Guard of every Orange API route.
pub async fn guard(State(st): State<Arc<SimState>>, mut req: Request, next: Next) -> Response {
    match check(&st, req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

fn check(st: &SimState, headers: &HeaderMap) -> Result<Caller, OrangeError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(OrangeError::code(40))?;
    // The Incident getting-started shows the bare token; the OAuth guides show `Bearer`.
    let presented = auth.strip_prefix("Bearer ").unwrap_or(auth).trim();
    let client_id = {
        let tokens = st.tokens.read().unwrap_or_else(|e| e.into_inner());
        let token = tokens.get(presented).ok_or(OrangeError::code(41))?;
        if token.expires_at <= OffsetDateTime::now_utc() {
            return Err(OrangeError::code(42));
        }
        token.client_id.clone()
    };
    let forbidden = st.inferred().api_key_failure == super::inferred::ApiKeyFailure::Forbidden;
    match headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
        None if forbidden => return Err(OrangeError::with(50, "Missing X-Api-Key header.")),
        None => return Err(OrangeError::with(40, "Missing X-Api-Key header.")),
        Some(k) if k != st.opts.api_key && forbidden => {
            return Err(OrangeError::with(50, "Invalid X-Api-Key."));
        }
        Some(k) if k != st.opts.api_key => return Err(OrangeError::with(41, "Invalid X-Api-Key.")),
        Some(_) => {}
    }
    if let Some(limit) = st.opts.rate_limit {
        st.take(&client_id, "api", 1, limit)
            .map_err(|_| OrangeError::code(53))?;
    }
    Ok(Caller(client_id))
}

/// Expires every issued token now (control API), so tests reach code 42 without waiting.
pub fn expire_all(st: &SimState) -> usize {
    let mut tokens = st.tokens.write().unwrap_or_else(|e| e.into_inner());
    let past = OffsetDateTime::now_utc() - Duration::seconds(1);
    tokens.values_mut().for_each(|t| t.expires_at = past);
    tokens.len()
}
