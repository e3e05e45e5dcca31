//! Reading what a changed linked object needs (its notes; the object itself for sweeps) and
//! diffing it against the stored state into the cycle's batch.
//!
//! One object's failed read holds back nothing else: the others are observed and committed,
//! and the failed one is returned so the change scan keeps its watermark below it (it is read
//! again next cycle). A read refused for good (`404`, `403`: no retry can help) is not
//! waited on: the object is observed without its notes, so its status still reaches the ITSM.

use futures_util::{StreamExt, stream};

use super::diff::{Observed, OrangeNote, diff};
use super::{Batch, Changed, CycleReport, PollError, Poller, READS_IN_FLIGHT};
use crate::domain::{CallFailure, Link, TicketKey};

impl Poller {
    /// Reads the notes of `items` (a few at a time: Orange latency, not our CPU, bounds a
    /// cycle) and diffs each against its stored state, in order. Returns the objects whose
    /// reads failed for now (they were not observed).
    pub(super) async fn observe_all(
        &self,
        items: Vec<(Link, Changed)>,
        rep: &mut CycleReport,
        batch: &mut Batch,
    ) -> Result<Vec<Changed>, PollError> {
        // Collected first: a lazy `map` closure held across the await defeats the `Send` proof.
        let futures: Vec<_> = items.iter().map(|(l, c)| self.read_notes(l, c)).collect();
        let reads: Vec<_> = stream::iter(futures)
            .buffered(READS_IN_FLIGHT)
            .collect()
            .await;
        let mut failed = Vec::new();
        for ((link, c), read) in items.into_iter().zip(reads) {
            let notes = match read {
                Ok((notes, calls)) => {
                    rep.calls += calls;
                    notes
                }
                Err(PollError::Orange(f)) => {
                    rep.calls += 1;
                    rep.failed_reads += 1;
                    read_failed(&link, &c, &f);
                    if f.retryable() {
                        failed.push(c);
                        continue;
                    }
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            self.observe(&link, &c, &notes, batch, rep).await?;
        }
        Ok(failed)
    }

    /// The notes of a changed object and the calls it took (none when embedded, or when the
    /// link's source has no way-back rules).
    async fn read_notes(
        &self,
        link: &Link,
        c: &Changed,
    ) -> Result<(Vec<OrangeNote>, u32), PollError> {
        if let Some(n) = &c.notes {
            return Ok((n.clone(), 0));
        }
        if self.planners.planner(&link.tenant, &link.source).is_none() {
            return Ok((Vec::new(), 0));
        }
        let notes = self.reader.notes(&link.tenant, link.api, &c.id).await?;
        Ok((notes, 1))
    }

    /// Diffs one linked object against its stored state and adds the result to `batch`.
    async fn observe(
        &self,
        link: &Link,
        c: &Changed,
        notes: &[OrangeNote],
        batch: &mut Batch,
        rep: &mut CycleReport,
    ) -> Result<(), PollError> {
        let Some(planner) = self.planners.planner(&link.tenant, &link.source) else {
            tracing::debug!(tenant = %link.tenant, ticket.id = %link.ticket, "no way-back rules for this source");
            return Ok(());
        };
        let prior = match batch.pending_state(&link.ticket) {
            Some(s) => Some(s.clone()),
            None => self.store.remote_state(&link.ticket).await?,
        };
        let seen = Observed {
            orange_id: &c.id,
            status: c.status.as_deref(),
            object: &c.object,
            notes,
        };
        let (calls, mut next) = diff(link.ticket.ticket(), prior.as_ref(), seen, planner.as_ref());
        if !c.last_update.is_empty() {
            next.last_update = Some(c.last_update.clone());
        }
        if prior.as_ref() != Some(&next) || !calls.is_empty() {
            rep.changes += 1;
            batch.push(&link.ticket, next, calls);
        }
        Ok(())
    }

    /// Gets `links`' objects (a few at a time) and observes them; returns the links whose
    /// objects were read and observed, each with whether it is now final. With `skip_quiet`,
    /// an object whose `lastUpdateDate` is the one last seen is observed without reading its
    /// notes (a note moves `lastUpdateDate`, as the change scan also assumes).
    pub(super) async fn get_and_observe(
        &self,
        links: Vec<Link>,
        skip_quiet: bool,
        rep: &mut CycleReport,
        batch: &mut Batch,
    ) -> Result<Vec<(TicketKey, bool)>, PollError> {
        let futures: Vec<_> = links
            .iter()
            .map(|l| self.reader.get(&l.tenant, l.api, &l.orange_id))
            .collect();
        let gets: Vec<_> = stream::iter(futures)
            .buffered(READS_IN_FLIGHT)
            .collect()
            .await;
        rep.calls += u32::try_from(links.len()).unwrap_or(u32::MAX);
        let mut found = Vec::new();
        let mut read = Vec::new();
        for (link, got) in links.into_iter().zip(gets) {
            match got {
                Ok(Some(mut c)) => {
                    if skip_quiet && c.notes.is_none() && self.quiet(&link, &c).await? {
                        c.notes = Some(Vec::new());
                    }
                    read.push((link.ticket.clone(), c.id.clone(), is_final(&c)));
                    found.push((link, c));
                }
                // Gone from Orange (or not yet visible): checked, and offered again later.
                Ok(None) => read.push((link.ticket.clone(), String::new(), false)),
                // Swept objects are read again at the next sweep: skipped, not waited on.
                Err(f) => {
                    rep.failed_reads += 1;
                    tracing::warn!(tenant = %link.tenant, ticket.id = %link.ticket, orange.id = %link.orange_id, error = %f, "poll read of this object failed; it is read again next time");
                }
            }
        }
        let failed = self.observe_all(found, rep, batch).await?;
        // An object whose notes read failed stays least recently checked: first next time.
        Ok(read
            .into_iter()
            .filter(|(_, id, _)| !failed.iter().any(|f| &f.id == id))
            .map(|(t, _, done)| (t, done))
            .collect())
    }

    /// True when `c` has not moved since it was last observed.
    async fn quiet(&self, link: &Link, c: &Changed) -> Result<bool, PollError> {
        if c.last_update.is_empty() {
            return Ok(false);
        }
        let prior = self.store.remote_state(&link.ticket).await?;
        Ok(prior.is_some_and(|p| p.last_update.as_deref() == Some(c.last_update.as_str())))
    }
}

/// Statuses (and ordering steps) after which an object is no longer re-read.
const FINAL: [&str; 5] = ["closed", "cancelled", "canceled", "completed", "rejected"];

/// The object is in a final status or step.
fn is_final(c: &Changed) -> bool {
    let step = c.object.get("step").and_then(serde_json::Value::as_str);
    [c.status.as_deref(), step]
        .into_iter()
        .flatten()
        .any(|s| FINAL.iter().any(|f| f.eq_ignore_ascii_case(s)))
}

fn read_failed(link: &Link, c: &Changed, f: &CallFailure) {
    if f.retryable() {
        tracing::warn!(tenant = %link.tenant, ticket.id = %link.ticket, orange.id = %c.id, error = %f, "notes read failed; this object is read again next cycle, the others go on");
    } else {
        tracing::warn!(tenant = %link.tenant, ticket.id = %link.ticket, orange.id = %c.id, error = %f, "notes refused; the object is observed without them");
    }
}
