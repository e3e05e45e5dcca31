//! Webhook authentication per tenant and source, over the raw body, in constant time.
//!
//! A request passes when any configured method matches. Secrets are compared with
//! `subtle::ConstantTimeEq`; HMACs are computed over the exact bytes received, before any
//! JSON parsing.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::{HmacEncoding, WebhookAuth};

/// Jira's signature header: `sha256=<hex>` (the `method=` prefix names the algorithm).
pub const HUB_SIGNATURE: &str = "x-hub-signature";

/// Why a request was not authenticated (said to the caller, without secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials: expected {0}")]
    Missing(String),
    #[error("invalid credentials")]
    Invalid,
    #[error("unsupported signature method {0:?} (expected sha256)")]
    UnsupportedMethod(String),
    #[error("malformed {0} header")]
    Malformed(&'static str),
}

type HmacSha256 = Hmac<Sha256>;

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn hmac(secret: &str, body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Checks `headers`/`body` against the accepted methods.
pub fn verify(methods: &[WebhookAuth], headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
    first_pass(methods, |m| check_one(m, headers, body))
}

/// Checks what the headers alone can tell, before the body is read: `Ok` when some method
/// passes (Basic, Bearer) or may pass once the body is there (a well-formed signature
/// header); otherwise the error [`verify`] would give for any body.
pub fn verify_headers(methods: &[WebhookAuth], headers: &HeaderMap) -> Result<(), AuthError> {
    first_pass(methods, |m| {
        let signs_body = matches!(
            m,
            WebhookAuth::HubSignature { .. } | WebhookAuth::Hmac { .. }
        );
        match check_one(m, headers, b"") {
            // Only the body can tell a signature's match.
            Err(AuthError::Invalid) if signs_body => Ok(()),
            other => other,
        }
    })
}

/// `Ok` as soon as one method passes `check`; else the first error of a method whose
/// credentials were present, or `Missing` when none were.
fn first_pass(
    methods: &[WebhookAuth],
    mut check: impl FnMut(&WebhookAuth) -> Result<(), AuthError>,
) -> Result<(), AuthError> {
    let mut first_error = None;
    let mut saw_any = false;
    for m in methods {
        match check(m) {
            Ok(()) => return Ok(()),
            Err(AuthError::Missing(_)) => {}
            Err(e) => {
                saw_any = true;
                first_error.get_or_insert(e);
            }
        }
    }
    if saw_any {
        Err(first_error.unwrap_or(AuthError::Invalid))
    } else {
        Err(AuthError::Missing(describe(methods)))
    }
}

fn describe(methods: &[WebhookAuth]) -> String {
    let names: Vec<String> = methods
        .iter()
        .map(|m| match m {
            WebhookAuth::HubSignature { .. } => "X-Hub-Signature".to_owned(),
            WebhookAuth::Basic { .. } => "Authorization: Basic".to_owned(),
            WebhookAuth::Bearer { .. } => "Authorization: Bearer".to_owned(),
            WebhookAuth::Hmac { header, .. } => header.clone(),
        })
        .collect();
    names.join(" or ")
}

fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (s, rest) = v.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn check_one(m: &WebhookAuth, headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
    match m {
        WebhookAuth::HubSignature { secret } => {
            let v = headers
                .get(HUB_SIGNATURE)
                .ok_or_else(|| AuthError::Missing("X-Hub-Signature".into()))?
                .to_str()
                .map_err(|_| AuthError::Malformed("X-Hub-Signature"))?;
            let (method, hex_sig) = v
                .trim()
                .split_once('=')
                .ok_or(AuthError::Malformed("X-Hub-Signature"))?;
            if !method.eq_ignore_ascii_case("sha256") {
                return Err(AuthError::UnsupportedMethod(
                    method.chars().take(16).collect(),
                ));
            }
            let given =
                hex::decode(hex_sig.trim()).map_err(|_| AuthError::Malformed("X-Hub-Signature"))?;
            let expected = hmac(secret.expose(), body);
            if ct_eq(&given, &expected) {
                Ok(())
            } else {
                Err(AuthError::Invalid)
            }
        }
        WebhookAuth::Basic { username, password } => {
            let v = authorization(headers, "basic")
                .ok_or_else(|| AuthError::Missing("Authorization: Basic".into()))?;
            let decoded = B64
                .decode(v)
                .map_err(|_| AuthError::Malformed("Authorization"))?;
            let expected = format!("{username}:{}", password.expose());
            if ct_eq(&decoded, expected.as_bytes()) {
                Ok(())
            } else {
                Err(AuthError::Invalid)
            }
        }
        WebhookAuth::Bearer { token } => {
            let v = authorization(headers, "bearer")
                .ok_or_else(|| AuthError::Missing("Authorization: Bearer".into()))?;
            if ct_eq(v.as_bytes(), token.expose().as_bytes()) {
                Ok(())
            } else {
                Err(AuthError::Invalid)
            }
        }
        WebhookAuth::Hmac {
            header,
            secret,
            encoding,
        } => {
            let v = headers
                .get(header.as_str())
                .ok_or_else(|| AuthError::Missing(header.clone()))?
                .to_str()
                .map_err(|_| AuthError::Malformed("signature"))?
                .trim();
            // Accept an optional `sha256=` prefix, as some senders add it.
            let v = v.strip_prefix("sha256=").unwrap_or(v);
            let given = match encoding {
                HmacEncoding::Base64 => B64.decode(v),
                HmacEncoding::Hex => {
                    hex::decode(v).map_err(|_| base64::DecodeError::InvalidLength(0))
                }
            }
            .map_err(|_| AuthError::Malformed("signature"))?;
            let expected = hmac(secret.expose(), body);
            if ct_eq(&given, &expected) {
                Ok(())
            } else {
                Err(AuthError::Invalid)
            }
        }
    }
}

/// Signs `body` as Jira does (for tests, the simulators and the README).
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac(secret, body)))
}

/// Signs `body` as a ServiceNow script does with `GlideCertificateEncryption.generateMac`.
pub fn base64_hmac(secret: &str, body: &[u8]) -> String {
    B64.encode(hmac(secret, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn hub() -> Vec<WebhookAuth> {
        vec![WebhookAuth::HubSignature {
            secret: Secret::new("s3cret-key"),
        }]
    }

    fn with(name: &'static str, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, v.parse().unwrap());
        h
    }

    #[test]
    fn hub_signature_over_raw_body_passes() {
        let body = br#"{"a": 1}"#;
        let h = with(HUB_SIGNATURE, &hub_signature("s3cret-key", body));
        assert_eq!(verify(&hub(), &h, body), Ok(()));
        assert_eq!(verify(&hub(), &h, br#"{"a":1}"#), Err(AuthError::Invalid));
    }

    #[test]
    fn missing_and_malformed_are_told_apart() {
        assert!(matches!(
            verify(&hub(), &HeaderMap::new(), b""),
            Err(AuthError::Missing(_))
        ));
        assert_eq!(
            verify(&hub(), &with(HUB_SIGNATURE, "sha256=zz"), b""),
            Err(AuthError::Malformed("X-Hub-Signature"))
        );
        assert!(matches!(
            verify(&hub(), &with(HUB_SIGNATURE, "sha1=00"), b""),
            Err(AuthError::UnsupportedMethod(_))
        ));
    }

    #[test]
    fn headers_alone_refuse_only_what_no_body_could_fix() {
        let methods = vec![
            WebhookAuth::Bearer {
                token: Secret::new("tok-123"),
            },
            WebhookAuth::Hmac {
                header: "X-Signature".into(),
                secret: Secret::new("k"),
                encoding: HmacEncoding::Base64,
            },
        ];
        // A signature that may match some body passes; a wrong bearer alone does not.
        let sig = with("x-signature", &base64_hmac("k", b"some other body"));
        assert_eq!(verify_headers(&methods, &sig), Ok(()));
        assert_eq!(
            verify_headers(&methods, &with("authorization", "Bearer tok-123")),
            Ok(())
        );
        for h in [
            HeaderMap::new(),
            with("authorization", "Bearer nope"),
            with("x-signature", "%%%"),
        ] {
            let early = verify_headers(&methods, &h);
            assert!(early.is_err());
            assert_eq!(early, verify(&methods, &h, b"any body at all"));
        }
    }

    #[test]
    fn any_matching_method_passes() {
        let methods = vec![
            WebhookAuth::Basic {
                username: "u".into(),
                password: Secret::new("password1"),
            },
            WebhookAuth::Hmac {
                header: "X-Signature".into(),
                secret: Secret::new("k"),
                encoding: HmacEncoding::Base64,
            },
        ];
        let h = with("x-signature", &base64_hmac("k", b"body"));
        assert_eq!(verify(&methods, &h, b"body"), Ok(()));
        let h = with(
            "authorization",
            &format!("Basic {}", B64.encode("u:password1")),
        );
        assert_eq!(verify(&methods, &h, b"body"), Ok(()));
        let h = with("authorization", &format!("Basic {}", B64.encode("u:nope")));
        assert_eq!(verify(&methods, &h, b"body"), Err(AuthError::Invalid));
    }
}
