//! The admin API's door: off (404) unless a usable `admin.token` is configured, and then
//! `Authorization: Bearer <token>` on every request under `/admin/v1`, checked before
//! routing so that an unknown path or a wrong method learns nothing without the token.
//!
//! RFC 9110 §11.1: the scheme is case-insensitive and separated from the credentials by one
//! or more spaces; the token itself is compared exactly. The comparison hashes both sides and
//! compares the digests in constant time, so neither the token's length nor a matching
//! prefix shows in the answer's timing.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::AppState;
use crate::http::problem::Problem;

/// The only scheme the admin API accepts.
pub const BEARER: &str = "bearer";

/// Refuses a request without the admin token; passes it on otherwise.
pub async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, Problem> {
    let Some(token) = state.app.config.admin.usable_token() else {
        return Err(Problem::not_found(
            "the admin API is disabled (no admin.token configured)",
        ));
    };
    let header = req.headers().get(axum::http::header::AUTHORIZATION);
    if header.is_some_and(|v| bearer_matches(v.as_bytes(), token.expose().as_bytes())) {
        Ok(next.run(req).await)
    } else {
        tracing::debug!(
            http.path = %req.uri().path(),
            admin.credentials = if header.is_some() { "invalid" } else { "missing" },
            "admin request refused"
        );
        Err(Problem::unauthorized(
            "the admin API needs Authorization: Bearer <admin.token>",
        ))
    }
}

/// Whether a whole `Authorization` value is `Bearer <token>` (scheme in any case, one or
/// more spaces, the token exact).
pub fn bearer_matches(value: &[u8], token: &[u8]) -> bool {
    let scheme_ok = value.len() > BEARER.len()
        && value[..BEARER.len()].eq_ignore_ascii_case(BEARER.as_bytes())
        && value[BEARER.len()] == b' ';
    let given = if scheme_ok {
        let rest = &value[BEARER.len()..];
        let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        &rest[start..]
    } else {
        // Still hash something, so a wrong scheme costs what a wrong token costs.
        value
    };
    let same = Sha256::digest(given).ct_eq(&Sha256::digest(token));
    scheme_ok & bool::from(same) & !token.is_empty()
}

#[cfg(test)]
mod tests {
    use super::bearer_matches;

    const T: &[u8] = b"0123456789abcdef";

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_exact() {
        assert!(bearer_matches(b"Bearer 0123456789abcdef", T));
        assert!(bearer_matches(b"bearer 0123456789abcdef", T));
        assert!(bearer_matches(b"BEARER   0123456789abcdef", T));
        for bad in [
            &b""[..],
            b"Bearer",
            b"Bearer ",
            b"Bearer 0123456789abcde",
            b"Bearer 0123456789abcdefX",
            b"Bearer 0123456789ABCDEF",
            b"Bearer  0123456789abcdef ",
            b"Bearer\t0123456789abcdef",
            b"Basic 0123456789abcdef",
            b"0123456789abcdef",
            b"Bearer0123456789abcdef",
        ] {
            assert!(
                !bearer_matches(bad, T),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(!bearer_matches(b"Bearer ", b""));
    }
}
