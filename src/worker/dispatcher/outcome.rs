//! What one attempt came to, before the dispatcher writes it with `finish`, and the
//! outcomes that are not failures: done (a delivered Orange call among them), and deferred
//! without an attempt.

use super::{Delivered, ECHO_TTL};
use crate::domain::{Attempt, AttemptOutcome, CallFailure, Delivery, OrangeCall, Timestamp};
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

/// A delivered Orange call: done, and a create links the ticket to the object it made (now,
/// or in an earlier try the gateway found applied).
pub(super) fn delivered(
    d: &Delivery,
    call: &OrangeCall,
    delivered: Delivered,
    now: Timestamp,
    started: std::time::Instant,
) -> Outcome {
    let api = call.op.api();
    let sent_now = matches!(delivered, Delivered::Sent { .. });
    let link = delivered
        .created_id()
        .filter(|_| call.op.creates())
        .map(|orange_id| NewLink { api, orange_id });
    match (&link, sent_now) {
        (_, true) => {}
        (Some(l), false) => tracing::info!(tenant = %d.tenant, ticket.id = %d.ticket,
            orange.api = api.as_str(), orange.id = %l.orange_id,
            "create already applied at Orange; linking without creating again"),
        (None, false) => tracing::info!(tenant = %d.tenant, ticket.id = %d.ticket,
            orange.api = api.as_str(),
            "earlier attempt was applied at Orange; not sending it again"),
    }
    done(now, started, link, Vec::new(), now)
}
