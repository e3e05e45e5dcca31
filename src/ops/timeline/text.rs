//! One line of text per timeline step: the terminal's timeline and the `summary` of each
//! entry in the JSON (so a page can show a step without knowing every kind).

use std::fmt::Write as _;

use super::Step;
use crate::domain::ObservedChange;

impl Step {
    /// The kind as a terminal shows it (at most 10 characters).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Event { .. } => "event",
            Self::Call(_) => "call",
            Self::Attempt(_) => "attempt",
            Self::Link { .. } => "link",
            Self::Observed(_) => "observed",
            Self::WriteBack(_) => "write-back",
        }
    }
}

/// What happened, in one line.
pub(super) fn summary(step: &Step) -> String {
    match step {
        Step::Event {
            event_id,
            source,
            event_type,
            dedupe_key,
            disposition,
        } => format!(
            "{source} {event_type}: {}  [event {event_id}, dedupe {dedupe_key}]",
            disposition.summary()
        ),
        Step::Call(p) | Step::WriteBack(p) => format!(
            "#{} {} → {}  {}, {} attempt(s){}",
            p.delivery_id,
            p.operation,
            p.api,
            p.state.as_str(),
            p.attempts,
            p.last_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        ),
        Step::Attempt(a) => {
            let mut what = format!(
                "#{} try {} {}: {}",
                a.delivery_id,
                a.number,
                a.operation,
                a.outcome.as_str()
            );
            if let Some(s) = a.http_status {
                let _ = write!(what, " HTTP {s}");
            }
            if let Some(c) = &a.error_code {
                let _ = write!(what, " code {c}");
            }
            let _ = write!(what, " in {} ms", a.latency_ms);
            if let Some(err) = &a.error {
                let _ = write!(what, " — {err}");
            }
            what
        }
        Step::Link { api, orange_id } => format!("linked to {api} {orange_id}"),
        Step::Observed(c) => match c {
            ObservedChange::FirstSeen { status } => {
                format!(
                    "first read at Orange, status {}",
                    status.as_deref().unwrap_or("-")
                )
            }
            ObservedChange::Status { from, to } => {
                format!("Orange status {} → {to}", from.as_deref().unwrap_or("-"))
            }
            ObservedChange::Note { id } => format!("Orange note {id} seen"),
            ObservedChange::Resolution { resolution } => {
                format!("Orange resolution {resolution}")
            }
        },
    }
}
