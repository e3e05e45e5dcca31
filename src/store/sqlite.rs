//! SQLite store: one replica, WAL, every write durable before it is answered, group commit
//! for the hot writes.
//!
//! Writes go through ONE connection (SQLite has one writer anyway, and a single connection
//! means no `SQLITE_BUSY` and no race between `MAX(seq)` and its insert); reads use a separate
//! pool, which WAL lets run beside the writer. Ingest, the outcomes of attempts and claims go
//! through the group-commit task in [`writer`], whose commits are made durable by [`sync`];
//! the other writes commit at `synchronous=FULL`.

mod claim;
mod direct;
mod finish;
mod ingest;
mod jobs;
mod links;
mod ops;
mod purge;
mod sync;
#[cfg(test)]
mod test_events;
mod tickets;
#[cfg(test)]
mod upgrade_tests;
mod wal;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::codec::{EventRow, PreparedEvent, event_cols};
use super::shared::rows;
use super::{EventQuery, EventState, StoreError, StoreResult};
use crate::domain::{Delivery, IngestOutcome, StoredEvent};

/// The SQLite implementation of [`super::Store`] (its roles: [`super::shared`]).
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// The group-commit writer (ingest and finish).
    writer: mpsc::Sender<jobs::Job>,
    /// Set for good when an fsync of the log failed (see `sync`): the writer refuses its jobs
    /// and `ping` fails.
    sync_failed: Arc<AtomicBool>,
    /// What the writer and the background checkpointer share (tests lower its limits).
    #[cfg(test)]
    wal: Arc<wal::Wal>,
}

impl SqliteStore {
    /// Opens (creating the file and its folder if needed) the database at a `sqlite://PATH`
    /// URL; `sqlite::memory:` gives a private in-memory database (tests).
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A 202 follows the commit: the commit must survive power loss, not just a crash.
            // (The group-commit writer relaxes this on its connection while it holds it and
            // answers after its own fsync instead; see `sync`.)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory
            && let Some(dir) = opts.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        // The writer never checkpoints inside a commit (a checkpoint fsyncs the database file
        // and would stall every webhook waiting on that commit); a background task does the
        // bulk from a read connection and the writer only copies a short tail between two
        // batches, so that the log starts over (see `wal`).
        let write = SqlitePoolOptions::new()
            // Connections to a local file do not drop: no test round trip before each use.
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                opts.clone()
                    .pragma("wal_autocheckpoint", if in_memory { "1000" } else { "0" })
                    // Inserts that touch several indexes keep a statement journal; in memory,
                    // not a temp file.
                    .pragma("temp_store", "memory"),
            )
            .await?;
        // An in-memory database lives in its connection: reads must share the writer's.
        let opts_for_reads = opts.clone();
        let read = if in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(max_connections.max(1))
                .connect_with(opts_for_reads)
                .await?
        };
        let wal = Arc::new(wal::Wal::new(
            (!in_memory).then(|| opts.get_filename().to_path_buf()),
        ));
        if !in_memory {
            tokio::spawn(wal::checkpointer(read.clone(), wal.clone()));
        }
        let (tx, rx) = mpsc::channel(writer::QUEUE);
        let sync_failed = Arc::new(AtomicBool::new(false));
        let syncer = if in_memory {
            None
        } else {
            let db = opts.get_filename().to_path_buf();
            Some(sync::Syncer::start(db, sync_failed.clone()).map_err(|e| {
                StoreError::Unavailable(format!("cannot start the SQLite fsync thread: {e}"))
            })?)
        };
        writer::spawn(write.clone(), rx, wal.clone(), syncer)?;
        Ok(Self {
            write,
            read,
            writer: tx,
            sync_failed,
            #[cfg(test)]
            wal,
        })
    }
}

/// The `WHERE` terms after `WHERE 1 = 1`, the order and the limit of a query on `events`.
///
/// With a ticket, the ticket's event ids drive the query (see `tickets`): the tenant and
/// `before` terms are written `+tenant`, `+id` so that SQLite cannot choose to walk the
/// tenant's events newest first instead (SQLite 3.40 did, for this query), which for a ticket
/// whose events are old reads every event of the tenant.
fn push_event_filters(b: &mut sqlx::QueryBuilder<sqlx::Sqlite>, q: &EventQuery) {
    let only_filter = if q.ticket.is_some() { "+" } else { "" };
    if let Some(t) = &q.tenant {
        b.push(format_args!(" AND {only_filter}tenant = "))
            .push_bind(t.as_str().to_owned());
    }
    if let Some(t) = &q.ticket {
        tickets::push_filter(
            b,
            t.as_str(),
            q.before.map(|id| id.to_string()),
            i64::from(q.limit),
        );
    }
    if let Some(before) = q.before {
        b.push(format_args!(" AND {only_filter}id < "))
            .push_bind(before.to_string());
    }
    match q.state {
        Some(EventState::Parked) => b.push(" AND parked IS NOT NULL"),
        // Not indexed (see migration 0004): walks the events newest first.
        Some(EventState::Unrouted) => b.push(" AND unrouted = 1"),
        Some(EventState::Discarded) => b.push(" AND discarded_at IS NOT NULL"),
        None => &mut *b,
    };
    if let Some(t) = &q.event_type {
        b.push(" AND event_type = ").push_bind(t.clone());
    }
    b.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(q.limit));
}

/// A write transaction: `BEGIN IMMEDIATE` takes the write lock at once, so a transaction
/// never fails to upgrade from reading to writing half-way.
async fn begin(pool: &SqlitePool) -> sqlx::Result<Transaction<'_, Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

super::shared::store_roles!(
    SqliteStore, backend: "sqlite", migrations: "src/store/migrations/sqlite",
    pools: { read: read, write: write, purge: [write, read] },
    sql: {
        waiting_from: " FROM deliveries INDEXED BY deliveries_waiting_link", jsonb: "",
        share_lock: "", update_lock: ""
    }
);

/// What SQLite does its own way (see `shared`): writes through the group-commit writer,
/// queries pinned to partial indexes.
impl SqliteStore {
    /// Hands `job` to the group-commit writer and waits for its answer (sent after the commit).
    async fn write_through<T>(
        &self,
        job: jobs::Job,
        answer: oneshot::Receiver<StoreResult<T>>,
    ) -> StoreResult<T> {
        let stopped = || StoreError::Unavailable("SQLite writer stopped".into());
        self.writer.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn ingest_event(&self, prepared: PreparedEvent) -> StoreResult<IngestOutcome> {
        let (reply, answer) = oneshot::channel();
        self.write_through(jobs::Job::Ingest(Box::new(prepared), reply), answer)
            .await
    }

    async fn claim(&self, job: jobs::ClaimJob) -> StoreResult<Vec<Delivery>> {
        let (reply, answer) = oneshot::channel();
        self.write_through(jobs::Job::Claim(job, reply), answer)
            .await
    }

    async fn finish_one(&self, job: jobs::FinishJob) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.write_through(jobs::Job::Finish(Box::new(job), reply), answer)
            .await
    }

    /// Pending, waiting for a link, in flight, dead, and the oldest pending's `created_at`.
    async fn queue_counts(&self) -> StoreResult<(i64, i64, i64, i64, Option<i64>)> {
        Ok(sqlx::query_as(
            // Each count on its partial index (live rows only, never the done history).
            "SELECT (SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_pending \
             WHERE state = 'pending' AND waiting_link IS NULL), \
             (SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_waiting_link \
             WHERE waiting_link IS NOT NULL AND state = 'pending'), \
             (SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_in_flight \
             WHERE state = 'in_flight'), \
             (SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_dead WHERE state = 'dead'), \
             (SELECT MIN(created_at) FROM deliveries INDEXED BY deliveries_pending \
             WHERE state = 'pending' AND waiting_link IS NULL)",
        )
        .fetch_one(&self.read)
        .await?)
    }

    async fn events(&self, q: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        // Parked (and discarded) events have their own partial index; without the pin SQLite may walk all
        // of a tenant's events instead.
        let from = match (q.state, &q.ticket) {
            (Some(EventState::Parked), None) => " FROM events INDEXED BY events_parked WHERE 1 = 1",
            (Some(EventState::Discarded), None) => {
                " FROM events INDEXED BY events_discarded WHERE 1 = 1"
            }
            _ => " FROM events WHERE 1 = 1",
        };
        let mut b = sqlx::QueryBuilder::new(concat!("SELECT ", event_cols!()));
        b.push(from);
        push_event_filters(&mut b, q);
        let rs: Vec<EventRow> = b.build_query_as().fetch_all(&self.read).await?;
        rows(rs)
    }

    /// Fails for good once an fsync of the log failed (see `sync`).
    async fn ping_db(&self) -> StoreResult<()> {
        if self.sync_failed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(sync::FAILED.into()));
        }
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}
