//! Console sessions: signing in with a token (POST, never in a URL) gives a random session
//! id in an `HttpOnly`, `SameSite=Strict` cookie scoped to `/console`; the session holds the
//! token's principal and a CSRF token that every form carries back.
//!
//! Sessions live in this process's memory: a restart signs everyone out, and with several
//! replicas the ingress must keep a browser on one replica (session affinity) — the console
//! is an operator's tool, and holding no session in the store keeps tokens and their
//! stand-ins out of the database. A session ends after [`IDLE`] without a request, after
//! [`MAX_AGE`] in any case, or on sign-out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use crate::http::AppState;
use crate::http::admin::principal::Principal;

/// The cookie's name.
pub const COOKIE: &str = "itsm_bridge_console";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(60 * 60);
/// A session ends this long after sign-in, used or not.
pub const MAX_AGE: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions kept at most (the oldest go first): sign-ins cannot grow memory without bound.
const MAX_SESSIONS: usize = 10_000;

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// Every form of this session carries it back (`csrf` field).
    pub csrf: String,
    started: Instant,
    last_seen: Instant,
}

impl Session {
    /// Whether a form's `csrf` value is this session's (compared in constant time).
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(self.csrf.as_bytes())))
    }
}

/// The sessions of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    // Two v4 UUIDs: 244 random bits from the OS generator.
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Sessions {
    /// Starts a session for `principal`; returns its id.
    pub fn start(&self, principal: Principal) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| alive(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                principal,
                csrf: random_token(),
                started: now,
                last_seen: now,
            },
        );
        id
    }

    /// The live session of `id`, its idle clock restarted.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(id) {
            Some(s) if alive(s, now) => {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last_seen) < IDLE && now.duration_since(s.started) < MAX_AGE
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
        cookie_id(&parts.headers)
            .and_then(|id| state.console.get(&id).map(|s| Signed(s, id)))
            .ok_or_else(|| Redirect::to("/console/sign-in").into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    #[test]
    fn a_session_is_found_by_its_cookie_and_gone_after_sign_out() {
        let sessions = Sessions::default();
        let id = sessions.start(Principal::all("ops", Role::Viewer));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("other=1; {COOKIE}={id}").parse().unwrap(),
        );
        let found = cookie_id(&h).unwrap();
        let s = sessions.get(&found).expect("live");
        assert_eq!(s.principal.name, "ops");
        assert!(s.csrf_ok(Some(&s.csrf.clone())));
        assert!(!s.csrf_ok(Some("nope")) && !s.csrf_ok(None));
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        let c = set_cookie(&id, &HeaderMap::new());
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
    }
}
