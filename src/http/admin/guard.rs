//! The admin API's door: off (404) unless a usable `admin.token` or a named token
//! (`admin.tokens`) is configured, and then `Authorization: Bearer <token>` on every request
//! under `/admin/v1`, checked before routing so that an unknown path or a wrong method learns
//! nothing without a token. A viewer's token is refused (403) on anything but reads.
//!
//! RFC 9110 §11.1: the scheme is case-insensitive and separated from the credentials by one
//! or more spaces; the token itself is compared exactly. The comparison (`principal.rs`)
//! hashes both sides and compares the digests in constant time, so neither the token's length
//! nor a matching prefix shows in the answer's timing.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::principal::authenticate;
use crate::http::AppState;
use crate::http::problem::Problem;

/// The only scheme the admin API accepts.
pub const BEARER: &str = "bearer";

/// Refuses a request without a known admin token; passes it on otherwise, with its
/// [`Principal`] in the request's extensions. A viewer's token opens reads only: any other
/// method than `GET`/`HEAD` is 403 before routing, so a route added later cannot forget it.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, Problem> {
    let admin = &state.config.admin;
    if !admin.enabled() {
        return Err(Problem::not_found(
            "the admin API is disabled (no admin.token or admin.tokens configured)",
        ));
    }
    let header = req.headers().get(axum::http::header::AUTHORIZATION);
    let principal = header.and_then(|v| authenticate(admin, bearer_credentials(v.as_bytes())?));
    let Some(principal) = principal else {
        tracing::debug!(
            http.path = %req.uri().path(),
            admin.credentials = if header.is_some() { "invalid" } else { "missing" },
            "admin request refused"
        );
        return Err(Problem::unauthorized(
            "the admin API needs Authorization: Bearer <token>",
        ));
    };
    if !principal.can_act() && !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(Problem::forbidden(format!(
            "token {:?} is a viewer: it reads, and cannot act",
            principal.name
        )));
    }
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}

/// The credentials of an `Authorization` value `Bearer <token>` (scheme in any case, one or
/// more spaces), or `None` for another scheme.
pub fn bearer_credentials(value: &[u8]) -> Option<&[u8]> {
    let scheme_ok = value.len() > BEARER.len()
        && value[..BEARER.len()].eq_ignore_ascii_case(BEARER.as_bytes())
        && value[BEARER.len()] == b' ';
    if !scheme_ok {
        return None;
    }
    let rest = &value[BEARER.len()..];
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    Some(&rest[start..])
}

#[cfg(test)]
mod tests {
    use super::bearer_credentials;
    use crate::config::{AdminConfig, Secret};
    use crate::http::admin::principal::authenticate;

    const T: &[u8] = b"0123456789abcdef";

    fn bearer_matches(value: &[u8], token: &[u8]) -> bool {
        let admin = AdminConfig {
            token: Some(Secret::new(String::from_utf8_lossy(token))),
            tokens: Vec::new(),
        };
        bearer_credentials(value).is_some_and(|c| authenticate(&admin, c).is_some())
    }

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
