//! The pure half of poll-back: what an Orange object read now means for the ITSM, given what
//! the poller last saw of it ([`RemoteState`]).
//!
//! Rules: a status not seen before is planned through the way-back status rule (which carries
//! the close fields for resolving statuses); a resolution that changed under an unchanged
//! status re-plans the status rule, so corrected close fields reach the ITSM; every note not
//! seen before is offered to the note policy (only Orange-authored ones are pushed by
//! default) and remembered either way, so a skipped customer note is never reconsidered; an
//! ordering request's `step` not seen before is planned through the way-back step rules.

use serde_json::Value;

use crate::domain::echo::sn_note_fingerprint;
use crate::domain::{ItsmCall, ItsmOp, RemoteState};

/// The way-back rules of one mapping, as the poller uses them. The compiled mapping
/// implements it; tests use explicit tables.
pub trait WayBackPlanner: Send + Sync {
    /// The ITSM update for an Orange status (with its close fields), or `None`.
    fn plan_status(&self, ticket: &str, orange_status: &str, orange: &Value) -> Option<ItsmCall>;
    /// The ITSM write for one note, or `None` when the policy skips it.
    fn plan_note(
        &self,
        ticket: &str,
        orange_id: &str,
        note: &Value,
        orange_authored: bool,
    ) -> Option<ItsmCall>;
    /// The ITSM update recording the Orange id (`correlation_id`, a custom field), made the
    /// first time the poller sees a linked object; `None` when nothing is configured.
    fn plan_link(&self, _ticket: &str, _orange_id: &str) -> Option<ItsmCall> {
        None
    }
    /// The ITSM writes for an ordering request that moved from step `from` (`None`: first
    /// seen) to `to`, in order; empty when the rules name nothing for it.
    fn plan_step(
        &self,
        _ticket: &str,
        _from: Option<&str>,
        _to: &str,
        _orange: &Value,
    ) -> Vec<ItsmCall> {
        Vec::new()
    }
}

/// One note of an Orange object.
#[derive(Debug, Clone, PartialEq)]
pub struct OrangeNote {
    pub id: String,
    /// Written by Orange staff (not a customer note the gateway itself sent).
    pub orange_authored: bool,
    /// The note as Orange returns it (templates render over it).
    pub body: Value,
}

/// An Orange object as read now.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub orange_id: &'a str,
    pub status: Option<&'a str>,
    /// The whole object (templates of the status rule render over it).
    pub object: &'a Value,
    /// Its notes, oldest first.
    pub notes: &'a [OrangeNote],
}

/// The write-backs the change calls for, and the state to remember once they are queued.
/// `prior` is `None` the first time the object is seen: the Orange id is recorded then.
pub fn diff(
    ticket: &str,
    prior: Option<&RemoteState>,
    now: Observed<'_>,
    planner: &dyn WayBackPlanner,
) -> (Vec<ItsmCall>, RemoteState) {
    let mut calls = Vec::new();
    if prior.is_none() {
        calls.extend(planner.plan_link(ticket, now.orange_id));
    }
    let prior = prior.cloned().unwrap_or_default();
    let mut next = prior.clone();

    for note in now.notes {
        if next.seen_notes.iter().any(|s| s == &note.id) {
            continue;
        }
        next.seen_notes.push(note.id.clone());
        if let Some(call) =
            planner.plan_note(ticket, now.orange_id, &note.body, note.orange_authored)
        {
            calls.push(with_fingerprint(call));
        }
    }

    // Ordering requests move through `step`s; each new step plans its rules once.
    if let Some(step) = now.object.get("step").and_then(Value::as_str)
        && prior.step.as_deref() != Some(step)
    {
        calls.extend(
            planner
                .plan_step(ticket, prior.step.as_deref(), step, now.object)
                .into_iter()
                .map(with_fingerprint),
        );
        next.step = Some(step.to_owned());
    }

    let resolution = resolution_of(now.object);
    if let Some(status) = now.status {
        let status_changed = prior.status.as_deref() != Some(status);
        let resolution_changed = resolution.is_some() && resolution != prior.resolution;
        if (status_changed || resolution_changed)
            && let Some(call) = planner.plan_status(ticket, status, now.object)
        {
            calls.push(with_fingerprint(call));
        }
        next.status = Some(status.to_owned());
    }
    if resolution.is_some() {
        next.resolution = resolution;
    }
    (calls, next)
}

/// The resolution fields of an Orange object, as one comparable string (`None` when absent).
fn resolution_of(object: &Value) -> Option<String> {
    let fields: Vec<(&str, &Value)> = [
        "resolution",
        "resolutionCode",
        "closureCode",
        "resolutionDate",
    ]
    .into_iter()
    .filter_map(|k| object.get(k).filter(|v| !v.is_null()).map(|v| (k, v)))
    .collect();
    (!fields.is_empty()).then(|| {
        fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    })
}

/// ServiceNow journal text is fingerprinted at planning time too, so the echo is known even if
/// the webhook outruns the write's acknowledgement.
fn with_fingerprint(mut call: ItsmCall) -> ItsmCall {
    if call.fingerprint.is_none()
        && let ItsmOp::ServicenowPatch { fields, .. } = &call.op
    {
        let text = fields
            .get("work_notes")
            .or_else(|| fields.get("comments"))
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty());
        call.fingerprint = text.map(sn_note_fingerprint);
    }
    call
}
