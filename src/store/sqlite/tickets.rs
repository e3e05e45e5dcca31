//! Events by ticket, indexed in bulk.
//!
//! An index on `events (ticket, id)` takes one entry per webhook at a random place (the events
//! of many tickets interleave), so a batch of N webhooks dirties about N pages of it, and each
//! dirty page is written whole to the log, copied back by the checkpoint and fsync'd: under
//! `wrk` with 2,000 busy tickets, a seventh of the gateway's CPU for an index that only the
//! admin API and reconciliation read.
//!
//! So that index is written in bulk. A trigger appends the `(ticket, id)` of every new event to
//! `event_tickets_pending`, a table without any index (appends fill its pages in order), and
//! the writer moves those rows into `event_tickets` sorted, once [`FLUSH_ROWS`] of them are
//! pending, or once it has had nothing to write for [`IDLE`]; the rows that belong on one page
//! then land on it together. Readers ([`push_filter`]) look in both tables within one
//! statement, which sees one snapshot, so an event is found whether or not its row has moved
//! yet (a row in both for a moment is found once: the reader asks `id IN (…)`).
//!
//! A move is done in steps, one transaction each, between two batches of webhooks: every
//! webhook that arrives meanwhile waits for the step. In one transaction, a move rewrote
//! every hot page of the index at once (with 2,000 busy tickets, ~2,000 pages; 25–50 ms, the
//! largest of the writer's stalls at 5,000 webhooks/s). Now the writer first copies the
//! pending rows, sorted, into a table of its connection's in-memory temporary database
//! (`temp.ticket_move`, nothing written to the log), then inserts them [`STEP_ROWS`] at a time
//! in that order, so that each step writes only the pages of a slice of the tickets, and
//! finally deletes them from the pending table [`DELETE_ROWS`] at a time. A crash or an error
//! in the middle leaves rows pending (some also indexed, which `OR IGNORE` absorbs when they
//! move again); none is lost, and the writer of the next process moves them at its first idle
//! moment ([`Pending::left_over`]).

use std::time::{Duration, Instant};

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

/// Pending rows from which the writer starts a move: about three seconds at 5,000
/// webhooks/s; a reader scans at most about this many (plus those of a move under way).
pub(super) const FLUSH_ROWS: usize = 16_384;
/// Time without anything to write after which the writer moves what is pending.
pub(super) const IDLE: Duration = Duration::from_secs(1);
/// Rows inserted into the index per step: an eighth of a move at the threshold.
const STEP_ROWS: i64 = 2_048;
/// Pending rows deleted per step, once all of a move's rows are in the index.
const DELETE_ROWS: i64 = 8_192;
/// Most rows one move takes (its temporary table is in memory); rows left pending beyond
/// that, by failed moves or a crash, go with the next move.
const MOVE_MAX: i64 = 4 * FLUSH_ROWS as i64;

/// The writer's state of the ticket index: rows pending since the last move began, and the
/// move under way.
#[derive(Debug, Default)]
pub(super) struct Pending {
    rows: usize,
    moving: Option<Move>,
}

#[derive(Debug)]
struct Move {
    /// Rows in `temp.ticket_move`, numbered from 1 in index order; those up to `inserted`
    /// are in the index.
    rows: i64,
    inserted: i64,
    /// The pending rows taken are those with a rowid in `(deleted, last]`.
    deleted: i64,
    last: i64,
}

impl Pending {
    /// What an earlier process left pending (it crashed, or stopped in the middle of a move),
    /// counted from the rowids, so that the writer moves those rows at its first idle moment
    /// (or between its first batches, if there are many) instead of waiting for as many new
    /// ones. Nothing before the store's first migration, when the table is not there yet.
    pub(super) async fn left_over(write: &mut SqliteConnection) -> Pending {
        let rows: sqlx::Result<i64> = async {
            let migrated: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                 WHERE type = 'table' AND name = 'event_tickets_pending')",
            )
            .fetch_one(&mut *write)
            .await?;
            if !migrated {
                return Ok(0);
            }
            sqlx::query_scalar(
                "SELECT IFNULL(MAX(rowid) - MIN(rowid) + 1, 0) FROM event_tickets_pending",
            )
            .fetch_one(&mut *write)
            .await
        }
        .await;
        let rows = rows.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot count the rows left pending for the ticket index; they move with the next move");
            0
        });
        if rows > 0 {
            tracing::info!(
                rows,
                "rows left pending for the ticket index move at the first idle moment"
            );
        }
        Pending {
            rows: usize::try_from(rows).unwrap_or(0),
            moving: None,
        }
    }

    pub(super) fn add(&mut self, accepted: usize) {
        self.rows += accepted;
    }

    /// Something is pending: a move is worth starting once the writer is idle.
    pub(super) fn any(&self) -> bool {
        self.rows > 0 || self.moving.is_some()
    }

    /// A move is under way: the writer takes its next step whenever nothing is waiting.
    pub(super) fn moving(&self) -> bool {
        self.moving.is_some()
    }

    /// A step is due between two batches: a move is under way, or enough rows are pending to
    /// start one.
    pub(super) fn due(&self) -> bool {
        self.moving.is_some() || self.rows >= FLUSH_ROWS
    }

    /// Takes the next step of the move under way, or starts one (the first step copies the
    /// pending rows, sorted). After a failure (logged) the move is dropped: its
    /// rows stay pending, found by readers, and the next move waits for as many new ones.
    pub(super) async fn step(&mut self, write: &mut SqliteConnection) {
        let started = Instant::now();
        if let Err(e) = self.try_step(write).await {
            self.moving = None;
            tracing::warn!(error = %e, "cannot move pending rows into the ticket index; they stay pending");
        }
        metrics::histogram!("itsm_bridge_store_ticket_index_step_seconds")
            .record(started.elapsed().as_secs_f64());
    }

    /// Gives up the move under way, when the writer cannot take steps (its connection or its
    /// fsync failed): the rows stay pending, found by readers, and the next move waits for as
    /// many new ones.
    pub(super) fn give_up(&mut self) {
        self.rows = 0;
        self.moving = None;
    }

    /// Moves what is pending now, step by step; the rows moved.
    #[cfg(test)]
    pub(super) async fn move_all(&mut self, write: &mut SqliteConnection) -> sqlx::Result<usize> {
        self.rows = 0;
        self.moving = start(write).await?;
        let moved = self.moving.as_ref().map_or(0, |m| m.rows as usize);
        while self.moving.is_some() {
            self.try_step(write).await?;
        }
        Ok(moved)
    }

    async fn try_step(&mut self, write: &mut SqliteConnection) -> sqlx::Result<()> {
        let Some(m) = &mut self.moving else {
            self.rows = 0;
            self.moving = start(write).await?;
            return Ok(());
        };
        if m.inserted < m.rows {
            let upto = (m.inserted + STEP_ROWS).min(m.rows);
            sqlx::query(
                "INSERT OR IGNORE INTO event_tickets (ticket, event_id) \
                 SELECT ticket, event_id FROM temp.ticket_move WHERE n > ? AND n <= ? ORDER BY n",
            )
            .bind(m.inserted)
            .bind(upto)
            .execute(&mut *write)
            .await?;
            m.inserted = upto;
        } else {
            let upto = (m.deleted + DELETE_ROWS).min(m.last);
            sqlx::query("DELETE FROM event_tickets_pending WHERE rowid > ? AND rowid <= ?")
                .bind(m.deleted)
                .bind(upto)
                .execute(&mut *write)
                .await?;
            m.deleted = upto;
            if upto == m.last {
                self.moving = None;
                sqlx::query("DROP TABLE temp.ticket_move")
                    .execute(&mut *write)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Copies the oldest pending rows (at most [`MOVE_MAX`]) into `temp.ticket_move`, numbered in
/// index order; `None` when nothing is pending.
async fn start(write: &mut SqliteConnection) -> sqlx::Result<Option<Move>> {
    let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT MIN(rowid), MAX(rowid) FROM \
         (SELECT rowid FROM event_tickets_pending ORDER BY rowid LIMIT ?)",
    )
    .bind(MOVE_MAX)
    .fetch_one(&mut *write)
    .await?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(None);
    };
    // Left by a move that failed half-way.
    sqlx::query("DROP TABLE IF EXISTS temp.ticket_move")
        .execute(&mut *write)
        .await?;
    sqlx::query(
        "CREATE TEMP TABLE ticket_move \
         (n INTEGER PRIMARY KEY, ticket TEXT NOT NULL, event_id TEXT NOT NULL)",
    )
    .execute(&mut *write)
    .await?;
    // Rows are numbered in the order the SELECT yields them.
    let rows = sqlx::query(
        "INSERT INTO temp.ticket_move (ticket, event_id) SELECT ticket, event_id \
         FROM event_tickets_pending WHERE rowid >= ? AND rowid <= ? ORDER BY ticket, event_id",
    )
    .bind(first)
    .bind(last)
    .execute(&mut *write)
    .await?
    .rows_affected() as i64;
    Ok(Some(Move {
        rows,
        inserted: 0,
        deleted: first - 1,
        last,
    }))
}

/// Adds `AND id IN (…)` to a query on `events`: the ids of `ticket`'s events, indexed or still
/// pending. With `before` and `limit`, the indexed part is cut to the `limit` newest ids below
/// `before` (the caller filters and limits the same way; a ticket key names its tenant, so no
/// other filter can drop one of them).
pub(super) fn push_filter(
    b: &mut QueryBuilder<Sqlite>,
    ticket: &str,
    before: Option<String>,
    limit: i64,
) {
    b.push(" AND id IN (SELECT event_id FROM (SELECT event_id FROM event_tickets WHERE ticket = ")
        .push_bind(ticket.to_owned());
    if let Some(before) = before {
        b.push(" AND event_id < ").push_bind(before);
    }
    b.push(" ORDER BY event_id DESC LIMIT ")
        .push_bind(limit)
        .push(") UNION ALL SELECT event_id FROM event_tickets_pending WHERE ticket = ")
        .push_bind(ticket.to_owned())
        .push(")");
}

#[cfg(test)]
mod tests;
