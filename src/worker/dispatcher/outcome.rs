//! What one attempt came to, before the dispatcher writes it with `finish`, and the two
//! outcomes that are not failures: done, and deferred without an attempt.

use super::ECHO_TTL;
use crate::domain::{Attempt, AttemptOutcome, CallFailure, Timestamp};
use crate::store::{Finish, NewLink};

/// What one delivery came to, before it is written with `finish`.
pub(super) struct Outcome {
    pub(super) attempt: Attempt,
    pub(super) finish: Finish,
    pub(super) failure: Option<CallFailure>,
}

pub(super) fn done(
    now: Timestamp,
    started: std::time::Instant,
    link: Option<NewLink>,
    echoes: Vec<String>,
    end: Timestamp,
) -> Outcome {
    let echo_until = (!echoes.is_empty()).then(|| end + ECHO_TTL);
    Outcome {
        attempt: Attempt {
            at: now,
            outcome: AttemptOutcome::Success,
            http_status: None,
            error_code: None,
            error: None,
            latency_ms: started.elapsed().as_millis() as u64,
        },
        finish: Finish::Done {
            link,
            echoes,
            echo_until,
        },
        failure: None,
    }
}

pub(super) fn defer(at: Timestamp) -> Outcome {
    Outcome {
        attempt: Attempt {
            at,
            outcome: AttemptOutcome::Retryable,
            http_status: None,
            error_code: None,
            error: None,
            latency_ms: 0,
        },
        finish: Finish::Defer { at },
        failure: None,
    }
}
