//! Console sessions: signing in with a token (POST, never in a URL) gives a random session
//! id in an `HttpOnly`, `SameSite=Strict` cookie scoped to `/console`; the session holds the
//! token's principal and a CSRF token that every form carries back.
//!
//! Sessions live in the store (`SessionStore`, table `console_sessions`), so every replica
//! behind a load balancer knows a browser signed in on another, and a restart signs no one
//! out. A row is keyed by the SHA-256 of the session id: neither that id nor the token is
//! stored. At each request the session's token is looked up by name in the admin config in
//! force ([`configured`]): a token removed, or whose role or tenants changed (on this replica,
//! after a restart, or on another replica's config), ends the session. A session also ends
//! after [`IDLE`] without a request, after [`MAX_AGE`] in any case, or on sign-out; expired
//! rows are deleted as new sessions start.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AdminConfig;
use crate::domain::Timestamp;
use crate::http::AppState;
use crate::http::admin::principal::{Principal, configured};
use crate::store::{ConsoleSession, SessionStore, StoreResult};

/// The cookie's name.
pub const COOKIE: &str = "itsm_bridge_console";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(60 * 60);
/// A session ends this long after sign-in, used or not.
pub const MAX_AGE: Duration = Duration::from_secs(12 * 60 * 60);
/// A request moves the session's expiry on only when its last recorded use is older than
/// this: a page's burst of requests writes once, and the idle clock is a minute coarse.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// Every form of this session carries it back (`csrf` field).
    pub csrf: String,
}

impl Session {
    /// Whether a form's `csrf` value is this session's (compared in constant time).
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(self.csrf.as_bytes())))
    }
}

/// The console's sessions, kept in the store.
pub struct Sessions {
    store: Arc<dyn SessionStore>,
}

fn random_token() -> String {
    // Two v4 UUIDs: 244 random bits from the OS generator.
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// What the store keys a session by: the SHA-256 (hex) of its id.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// When a session started at `started` and last used at `now` ends.
fn expiry(started: Timestamp, now: Timestamp) -> Timestamp {
    (started + MAX_AGE).min(now + IDLE)
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Self { store }
    }

    /// Starts a session for `principal` at `now`; returns its id (for the cookie only).
    pub async fn start(&self, principal: &Principal, now: Timestamp) -> StoreResult<String> {
        let id = random_token();
        let session = ConsoleSession {
            id_hash: id_hash(&id),
            principal: principal.name.clone(),
            role: principal.role.as_str().to_owned(),
            tenants: principal.tenants().map(<[_]>::to_vec),
            csrf: random_token(),
            created_at: now,
            last_seen: now,
            expires_at: expiry(now, now),
        };
        self.store.start_session(&session).await?;
        Ok(id)
    }

    /// The live session of `id` at `now`, its idle clock restarted, while its token is still
    /// configured in `admin` with the role and tenants it signed in with; a session whose
    /// token is not is ended.
    pub async fn get(
        &self,
        id: &str,
        admin: &AdminConfig,
        now: Timestamp,
    ) -> StoreResult<Option<Session>> {
        let key = id_hash(id);
        let Some(row) = self.store.session(&key, now).await? else {
            return Ok(None);
        };
        let Some(principal) = configured(admin, &row.principal).filter(|p| same(p, &row)) else {
            tracing::info!(
                admin.token = %row.principal,
                "console session ended: its token is no longer configured as it was"
            );
            self.store.end_session(&key).await?;
            return Ok(None);
        };
        if now - row.last_seen >= TOUCH_EVERY
            && !self
                .store
                .touch_session(&key, now, expiry(row.created_at, now))
                .await?
        {
            return Ok(None);
        }
        Ok(Some(Session {
            principal,
            csrf: row.csrf,
        }))
    }

    pub async fn end(&self, id: &str) -> StoreResult<()> {
        self.store.end_session(&id_hash(id)).await
    }
}

/// Whether the token configured now has the role and tenants the session signed in with.
fn same(now: &Principal, signed: &ConsoleSession) -> bool {
    let sorted = |ts: Option<&[crate::domain::TenantId]>| {
        ts.map(|ts| {
            let mut v = ts.to_vec();
            v.sort();
            v
        })
    };
    now.role.as_str() == signed.role && sorted(now.tenants()) == sorted(signed.tenants.as_deref())
}

/// The session id in a request's cookies.
pub fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The `Set-Cookie` value for a new session (`Secure` when the gateway is reached over
/// HTTPS, as a TLS-terminating ingress says with `X-Forwarded-Proto`).
pub fn set_cookie(id: &str, headers: &HeaderMap) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        MAX_AGE.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session's cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// A request of a signed-in browser; without a live session, the answer is the sign-in page.
pub struct Signed(pub Session, pub String);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let Some(id) = cookie_id(&parts.headers) else {
            return Err(to_sign_in());
        };
        let admin = &state.live.current().admin;
        match state.console.get(&id, admin, Timestamp::now_utc()).await {
            Ok(Some(s)) => Ok(Signed(s, id)),
            Ok(None) => Err(to_sign_in()),
            Err(e) => {
                tracing::warn!(error = %e, "console: cannot read the session");
                Err(super::bare(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The store is unavailable; try again shortly.",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_id_is_read_from_its_cookie_and_the_cookie_keeps_its_flags() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("other=1; {COOKIE}=abc").parse().unwrap(),
        );
        assert_eq!(cookie_id(&h).as_deref(), Some("abc"));
        let c = set_cookie("abc", &HeaderMap::new());
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(c.contains("Path=/console"));
        let mut https = HeaderMap::new();
        https.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(set_cookie("abc", &https).ends_with("; Secure"));
        assert_ne!(id_hash("abc"), "abc", "the store never sees the id");
        assert_eq!(id_hash("abc").len(), 64);
    }

    #[test]
    fn a_session_ends_idle_or_at_its_maximum_age_whichever_comes_first() {
        let t0 = Timestamp::now_utc();
        assert_eq!(expiry(t0, t0), t0 + IDLE);
        let late = t0 + MAX_AGE - Duration::from_secs(60);
        assert_eq!(expiry(t0, late), t0 + MAX_AGE);
    }
}
