//! What a purge step does the same way on both backends: how many rows it looks at, which
//! finished deliveries it reads, and which of them are old enough.

use crate::domain::{DeliveryId, EventId};
use crate::store::codec::{cutoff, id_bound, ms};
use crate::store::{PurgeCursor, PurgeRules, StoreError, StoreResult};

/// Rows a purge step looks at (at least one).
pub(in crate::store) fn purge_batch(rules: &PurgeRules) -> i64 {
    i64::from(rules.batch.max(1))
}

/// A delivery a purge step reads: id, event id, `created_at`.
pub(in crate::store) type PurgeRow = (i64, Option<String>, i64);

/// Of the deliveries a purge step read after its cursor (`rows`, by id, at most `batch`):
/// those created before `bound`, up to the first that was not (nothing after a young row can
/// be past retention yet), and where the next step starts (`None`: this one reached a young
/// row or the end).
pub(in crate::store) fn purge_window(
    rows: &[PurgeRow],
    bound: i64,
    batch: i64,
) -> (&[PurgeRow], Option<PurgeCursor>) {
    let young = rows.iter().position(|(_, _, created)| *created >= bound);
    let next = match (young, rows.last()) {
        (None, Some((id, ..))) if rows.len() as i64 == batch => Some(PurgeCursor::Finished {
            after: Some(DeliveryId(*id)),
        }),
        _ => None,
    };
    (&rows[..young.unwrap_or(rows.len())], next)
}

/// The `created_at` before which a finished delivery may be past retention; `None` when no
/// rule purges finished work.
pub(in crate::store) fn finished_bound(rules: &PurgeRules) -> Option<i64> {
    let bound = cutoff(rules.done_before).max(cutoff(rules.dead_before));
    (bound != i64::MIN).then_some(bound)
}

/// The deliveries a purge step of finished work reads on `$conn`: after `$after` (an
/// `Option<DeliveryId>`), by id, a batch at most. A future of [`PurgeRow`]s.
macro_rules! read_finished {
    ($conn:expr, $rules:expr, $after:expr) => {
        sqlx::query_as::<_, $crate::store::shared::purge::PurgeRow>(
            "SELECT id, event_id, created_at FROM deliveries WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind($after.map_or(0, |a| a.0))
        .bind($crate::store::shared::purge::purge_batch($rules))
        .fetch_all(&mut *$conn)
    };
}
pub(in crate::store) use read_finished;

/// Of the finished deliveries a step read (`rows`), the candidates: the events those past
/// `bound` belong to (sorted, each once), the write-backs among them (deliveries of no
/// event), and where the next step starts.
pub(in crate::store) fn finished_candidates<'r>(
    rows: &'r [PurgeRow],
    bound: i64,
    rules: &PurgeRules,
) -> (Vec<&'r str>, Vec<i64>, Option<PurgeCursor>) {
    let (seen, next) = purge_window(rows, bound, purge_batch(rules));
    let mut events: Vec<&str> = seen.iter().filter_map(|(_, e, _)| e.as_deref()).collect();
    events.sort_unstable();
    events.dedup();
    let writebacks = seen
        .iter()
        .filter(|(_, e, _)| e.is_none())
        .map(|(id, ..)| *id)
        .collect();
    (events, writebacks, next)
}

/// The phases of a purge pass that read events, before its finished deliveries: the same
/// steps on both backends around each backend's own query of a page.
#[derive(Clone, Copy)]
pub(in crate::store) enum EventPhase {
    /// Events received before the skipped cutoff, in id order.
    Skipped,
    /// Parked events an operator discarded, in id order (their partial index), from the first
    /// each pass: few, and discarded at any time.
    Discarded,
}

/// A page of events a step reads: after `after`, by id, `batch` at most.
pub(in crate::store) struct EventPage {
    phase: EventPhase,
    /// The id the page starts after (empty: from the first).
    pub after: String,
    /// For [`EventPhase::Skipped`], the id bound of the skipped cutoff (`id_bound`); `None` for
    /// [`EventPhase::Discarded`].
    pub skipped_below: Option<String>,
    pub batch: i64,
}

impl EventPhase {
    /// Where the pass goes once this phase has read its last page.
    fn then(self) -> Option<PurgeCursor> {
        match self {
            EventPhase::Skipped => Some(PurgeCursor::Discarded { after: None }),
            EventPhase::Discarded => Some(PurgeCursor::Finished { after: None }),
        }
    }

    /// The page a step of this phase reads after `after`; `Err` with where the step goes on,
    /// reading nothing, when no rule purges this phase's events.
    pub(in crate::store) fn page(
        self,
        rules: &PurgeRules,
        after: Option<EventId>,
    ) -> Result<EventPage, Option<PurgeCursor>> {
        let skipped_below = match self {
            EventPhase::Skipped => {
                let before = rules.skipped_before.ok_or(self.then())?;
                Some(id_bound(ms(before)))
            }
            EventPhase::Discarded if rules.done_before.is_none() => return Err(self.then()),
            EventPhase::Discarded => None,
        };
        Ok(EventPage {
            phase: self,
            after: after.map(|a| a.to_string()).unwrap_or_default(),
            skipped_below,
            batch: purge_batch(rules),
        })
    }
}

impl EventPage {
    /// Where the step after this page starts, given how many events it `read` and the `last`
    /// one: after that one, in this phase, when it read a whole batch; else the next phase.
    pub(in crate::store) fn next(
        &self,
        read: usize,
        last: Option<&str>,
    ) -> StoreResult<Option<PurgeCursor>> {
        Ok(match last {
            Some(id) if read as i64 == self.batch => {
                let after = Some(
                    EventId::parse(id)
                        .map_err(|e| StoreError::Corrupt(format!("event id: {e}")))?,
                );
                Some(match self.phase {
                    EventPhase::Skipped => PurgeCursor::Skipped { after },
                    EventPhase::Discarded => PurgeCursor::Discarded { after },
                })
            }
            _ => self.phase.then(),
        })
    }
}
