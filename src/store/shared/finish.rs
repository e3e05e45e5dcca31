//! Recording a batch of delivery outcomes, what both backends do alike: which outcomes are
//! refused (the delivery is gone, or its lease was lost), and the rows of the set-based
//! statements that record the rest (attempts, the deliveries' new states, links, echoes, the
//! tickets whose head moves). Each backend runs them in its own dialect (SQLite's
//! `json_each`, PostgreSQL's `jsonb_to_recordset`), one statement per kind whatever the batch
//! size, so a statement is prepared once per connection.
//!
//! Texts from Orange and the ITSMs go into these rows without NUL (see `text`): PostgreSQL's
//! JSON and TEXT refuse it, and both backends store the same.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::FinishJob;
use crate::domain::{DeliveryState, TicketKey};
use crate::store::codec::{self, ms};
use crate::store::{Finish, NewLink, StoreError, StoreResult, text};

/// Who holds a delivery, read before anything is written.
pub(crate) struct Holder {
    pub state: String,
    pub owner: Option<String>,
    pub tenant: String,
    pub ticket: String,
}

/// The outcomes the holders allow, in order, beside one result per job.
pub(crate) type Judged<'a> = (Vec<StoreResult<()>>, Vec<(&'a FinishJob, &'a Holder)>);

/// Sorts `jobs` by what their deliveries' holders allow: a job is refused alone (`NotFound`,
/// or `LeaseLost` when its worker no longer holds the lease — also the second outcome of one
/// delivery within a batch); the others are recorded.
pub(crate) fn judge<'a>(jobs: &[&'a FinishJob], holders: &'a HashMap<i64, Holder>) -> Judged<'a> {
    let mut results = Vec::with_capacity(jobs.len());
    let mut accepted = Vec::with_capacity(jobs.len());
    let mut seen = HashSet::with_capacity(jobs.len());
    for job in jobs {
        let id = job.id;
        results.push(match holders.get(&id.0) {
            None => Err(StoreError::NotFound(format!("delivery {id}"))),
            Some(h)
                if h.state != DeliveryState::InFlight.as_str()
                    || h.owner.as_deref() != Some(job.owner.as_str())
                    || !seen.insert(id.0) =>
            {
                Err(StoreError::LeaseLost(format!("delivery {id}")))
            }
            Some(h) => {
                accepted.push((*job, h));
                Ok(())
            }
        });
    }
    (results, accepted)
}

/// The delivery ids of `jobs`, as bound to the holders' query.
pub(crate) fn ids(jobs: &[&FinishJob]) -> Vec<i64> {
    jobs.iter().map(|j| j.id.0).collect()
}

fn clean(s: &Option<String>) -> Option<String> {
    s.as_deref().map(|s| text::strip_nul_ref(s).into_owned())
}

/// The attempts to insert, as a JSON array of `{d, at, o, h, c, e, l}` (delivery, time,
/// outcome, HTTP status, error code, error, latency); `None` when there is none. A deferral
/// (or a wait for a link) is not an attempt.
pub(crate) fn attempt_rows(accepted: &[(&FinishJob, &Holder)]) -> Option<String> {
    let rows: Vec<Value> = accepted
        .iter()
        .map(|(j, _)| *j)
        .filter(|j| !matches!(j.finish, Finish::Defer { .. } | Finish::WaitLink { .. }))
        .map(|j| {
            let a = &j.attempt;
            json!({
                "d": j.id.0, "at": ms(a.at), "o": a.outcome.as_str(), "h": a.http_status,
                "c": clean(&a.error_code), "e": clean(&a.error),
                "l": i64::try_from(a.latency_ms).unwrap_or(i64::MAX),
            })
        })
        .collect();
    (!rows.is_empty()).then(|| Value::Array(rows).to_string())
}

/// One row of the deliveries update: the new state and which columns move.
///
/// `id`; `s`: state; `n`: attempts added; `next`: next_attempt_at (absent: unchanged); `e`:
/// last_error (`k` = 1 keeps the old one); `f`: finished_at (set only when final, which also
/// drops the head flag); `w`: why it waits for a link (`kw` = 1 keeps the old reason;
/// otherwise it is cleared).
fn update_row(j: &FinishJob) -> Value {
    let at = ms(j.attempt.at);
    let error = codec::describe(&j.attempt).map(text::strip_nul);
    let id = j.id.0;
    match &j.finish {
        Finish::Done { .. } => json!({"id": id, "s": "done", "n": 1, "f": at, "k": 0}),
        Finish::Retry { at: next } => {
            json!({"id": id, "s": "pending", "n": 1, "next": ms(*next), "e": error, "k": 0})
        }
        Finish::Dead => json!({"id": id, "s": "dead", "n": 1, "e": error, "f": at, "k": 0}),
        Finish::Defer { at: next } => {
            json!({"id": id, "s": "pending", "n": 0, "next": ms(*next), "k": 1, "kw": 1})
        }
        Finish::WaitLink { until, reason } => json!({
            "id": id, "s": "pending", "n": 0, "next": ms(*until), "k": 1,
            "w": text::strip_nul_ref(reason),
        }),
    }
}

/// The deliveries update of every accepted outcome, as a JSON array of [`update_row`]s.
pub(crate) fn update_rows(accepted: &[(&FinishJob, &Holder)]) -> String {
    Value::Array(accepted.iter().map(|(j, _)| update_row(j)).collect()).to_string()
}

/// The tickets whose delivery became final (done or dead): their head moves on.
pub(crate) fn finals<'a>(accepted: &[(&FinishJob, &'a Holder)]) -> Vec<&'a str> {
    let mut tickets: Vec<&str> = accepted
        .iter()
        .filter(|(j, _)| matches!(j.finish, Finish::Done { .. } | Finish::Dead))
        .map(|(_, h)| h.ticket.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    tickets.sort_unstable();
    tickets
}

/// A link made by a create, to record with the outcome.
pub(crate) struct MadeLink<'a> {
    pub holder: &'a Holder,
    pub source: String,
    pub link: &'a NewLink,
    pub orange_id: String,
    pub at: i64,
}

/// The links made by the accepted creates.
pub(crate) fn made_links<'a>(
    accepted: &[(&'a FinishJob, &'a Holder)],
) -> StoreResult<Vec<MadeLink<'a>>> {
    let mut links = Vec::new();
    for (j, h) in accepted {
        if let Finish::Done {
            link: Some(link), ..
        } = &j.finish
        {
            let ticket = TicketKey::from_stored(h.ticket.clone());
            links.push(MadeLink {
                holder: h,
                source: codec::ticket_source(&ticket)?.as_str().to_owned(),
                link,
                orange_id: text::strip_nul_ref(&link.orange_id).into_owned(),
                at: ms(j.attempt.at),
            });
        }
    }
    Ok(links)
}

/// Logs a link that was not recorded: its ticket or Orange object is already linked (a
/// ticket keeps its first link; a second create for it, which the dispatcher's
/// lookup-before-retry should prevent, is logged, not recorded).
pub(crate) fn not_recorded(l: &MadeLink<'_>) {
    tracing::warn!(tenant = %l.holder.tenant, ticket.id = %l.holder.ticket,
        orange.api = l.link.api.as_str(), orange.id = %l.link.orange_id,
        "link not recorded: ticket or Orange object already linked");
}

/// A write-back's fingerprint to keep: `(tenant, fingerprint, until)`.
pub(crate) type Echo<'a> = (&'a str, &'a str, i64);

/// The write-backs' fingerprints to keep, with the instant of the earliest such outcome
/// (expired echoes are pruned as of then); `None` when there is none.
pub(crate) fn echoes<'a>(accepted: &[(&'a FinishJob, &'a Holder)]) -> Option<(i64, Vec<Echo<'a>>)> {
    let mut prune_at = None;
    let mut rows = Vec::new();
    for (j, h) in accepted {
        let Finish::Done {
            echoes,
            echo_until: Some(until),
            ..
        } = &j.finish
        else {
            continue;
        };
        prune_at.get_or_insert(ms(j.attempt.at));
        rows.extend(
            echoes
                .iter()
                .map(|fp| (h.tenant.as_str(), fp.as_str(), ms(*until))),
        );
    }
    prune_at.map(|at| (at, rows))
}
