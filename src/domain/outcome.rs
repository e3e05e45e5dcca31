//! One classification of every outbound call's failure, shared by the Orange and ITSM
//! clients and acted on by the dispatcher.
//!
//! Retryable: connection errors, timeouts before sending, 408, 409, 425, 429 and 5xx.
//! Permanent: every other 4xx. Unknown: the request may have taken effect (a timeout or a
//! dropped connection after it was sent) — for a create, look the object up before retrying.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum FailureClass {
    /// Try again later, not before `retry_after` when the server said so.
    Retryable {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<Duration>,
    },
    /// Will fail again until something is fixed (mapping, data, credentials).
    Permanent,
    /// Sent, but no answer: the call may or may not have taken effect.
    Unknown,
}

/// A failed call, as the operator should read it (no secrets, no payload bodies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallFailure {
    pub class: FailureClass,
    pub http_status: Option<u16>,
    /// The remote error code (Orange `code`, ServiceNow/Jira message key), when there is one.
    pub code: Option<String>,
    pub message: String,
}

impl CallFailure {
    /// A failure found on our side before or after the call (bad response, missing link…).
    pub fn permanent(message: impl Into<String>) -> CallFailure {
        CallFailure {
            class: FailureClass::Permanent,
            http_status: None,
            code: None,
            message: message.into(),
        }
    }
    pub fn retryable(&self) -> bool {
        !matches!(self.class, FailureClass::Permanent)
    }
    pub fn retry_after(&self) -> Option<Duration> {
        match self.class {
            FailureClass::Retryable { retry_after } => retry_after,
            _ => None,
        }
    }
}

/// The class of an HTTP error status.
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> FailureClass {
    match status {
        408 | 409 | 425 | 429 | 500..=599 => FailureClass::Retryable { retry_after },
        _ => FailureClass::Permanent,
    }
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date relative to `now`.
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let d = at - now;
    Some(if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_spec_says() {
        for s in [408, 409, 425, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify_status(s, None), FailureClass::Retryable { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 405, 410, 413, 422] {
            assert_eq!(classify_status(s, None), FailureClass::Permanent, "{s}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:30 +0000", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
