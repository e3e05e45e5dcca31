//! SQLite store: one replica, WAL, every write durable before it is answered, group commit
//! for the hot writes.
//!
//! Writes go through ONE connection (SQLite has one writer anyway, and a single connection
//! means no `SQLITE_BUSY` and no race between `MAX(seq)` and its insert); reads use a separate
//! pool, which WAL lets run beside the writer. Ingest, the outcomes of attempts and claims go
//! through the group-commit task in [`writer`], whose commits are made durable by [`sync`];
//! the other writes commit at `synchronous=FULL`.

mod finish;
mod links;
mod ops;
mod purge;
mod sync;
mod tickets;
mod timeline;
mod wal;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};

use super::codec::{
    self, AttemptRow, DeliveryRow, EventRow, LinkRow, PreparedEvent, attempt_cols, delivery_cols,
    event_cols, link_cols, ms,
};
use super::{
    EventQuery, EventState, Finish, LinkAdded, ManualLink, PurgeCursor, PurgeRules, PurgeStep,
    QueueStats, Store, StoreError, StoreResult,
};
use crate::domain::{
    Attempt, Delivery, DeliveryId, Disposition, EventId, IngestOutcome, Link, NewDelivery,
    NewEvent, OrangeApi, RemoteState, StoredEvent, Target, TenantId, TicketKey, Timestamp,
};

/// The SQLite implementation of [`super::Store`].
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// The group-commit writer (ingest and finish).
    writer: mpsc::Sender<writer::Job>,
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
                    // Multi-row inserts keep a statement journal; in memory, not a temp file.
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
        None => &mut *b,
    };
    if let Some(t) = &q.event_type {
        b.push(" AND event_type = ").push_bind(t.clone());
    }
    b.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(q.limit));
}

impl SqliteStore {
    /// Hands `job` to the group-commit writer and waits for its answer (sent after the commit).
    async fn write_through<T>(
        &self,
        job: writer::Job,
        answer: oneshot::Receiver<StoreResult<T>>,
    ) -> StoreResult<T> {
        let stopped = || StoreError::Unavailable("SQLite writer stopped".into());
        self.writer.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn now_ms() -> i64 {
    ms(Timestamp::now_utc())
}

fn rows<R, T>(rs: Vec<R>) -> StoreResult<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rs.into_iter().map(T::try_from).collect()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("src/store/migrations/sqlite")
            .run(&self.write)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        if self.sync_failed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(sync::FAILED.into()));
        }
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome> {
        let prepared = PreparedEvent::new(event)?;
        let (reply, answer) = oneshot::channel();
        self.write_through(writer::Job::Ingest(Box::new(prepared), reply), answer)
            .await
    }

    async fn is_echo(
        &self,
        tenant: &TenantId,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let hit: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM echoes WHERE tenant = ? AND fingerprint = ? AND expires_at > ?",
        )
        .bind(tenant.as_str())
        .bind(fingerprint)
        .bind(ms(now))
        .fetch_optional(&self.read)
        .await?;
        Ok(hit.is_some())
    }

    async fn event(&self, id: EventId) -> StoreResult<Option<StoredEvent>> {
        let r: Option<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_cols!(),
            " FROM events WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?;
        r.map(StoredEvent::try_from).transpose()
    }

    async fn list_events(&self, q: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        // Parked events have their own partial index; without the pin SQLite may walk all
        // of a tenant's events instead.
        let from = match (q.state, &q.ticket) {
            (Some(EventState::Parked), None) => " FROM events INDEXED BY events_parked WHERE 1 = 1",
            _ => " FROM events WHERE 1 = 1",
        };
        let mut b = sqlx::QueryBuilder::new(concat!("SELECT ", event_cols!()));
        b.push(from);
        push_event_filters(&mut b, q);
        let rs: Vec<EventRow> = b.build_query_as().fetch_all(&self.read).await?;
        rows(rs)
    }

    async fn event_deliveries(&self, id: EventId) -> StoreResult<Vec<Delivery>> {
        let rs: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries WHERE event_id = ? ORDER BY seq, id"
        ))
        .bind(id.to_string())
        .fetch_all(&self.read)
        .await?;
        rows(rs)
    }

    async fn settle_parked(
        &self,
        id: EventId,
        event_type: &str,
        disposition: Disposition,
        deliveries: Vec<NewDelivery>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let prepared = codec::prepare_deliveries(&deliveries)?;
        let d = codec::PreparedDisposition::new(&disposition);
        ops::settle_parked(&self.write, id, event_type, &d, &prepared, ms(now)).await
    }

    async fn enqueue(&self, tenant: &TenantId, deliveries: Vec<NewDelivery>) -> StoreResult<()> {
        let prepared = codec::prepare_deliveries(&deliveries)?;
        let now = now_ms();
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        for d in &prepared {
            writer::append(&mut tx, tenant.as_str(), None, d, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let (reply, answer) = oneshot::channel();
        let job = writer::ClaimJob {
            owner: owner.to_owned(),
            now: ms(now),
            lease_until: ms(lease_until),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        };
        self.write_through(writer::Job::Claim(job, reply), answer)
            .await
    }

    async fn finish(
        &self,
        id: DeliveryId,
        owner: &str,
        attempt: &Attempt,
        finish: Finish,
    ) -> StoreResult<()> {
        let job = writer::FinishJob {
            id,
            owner: owner.to_owned(),
            attempt: attempt.clone(),
            finish,
        };
        let (reply, answer) = oneshot::channel();
        self.write_through(writer::Job::Finish(Box::new(job), reply), answer)
            .await
    }

    async fn delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>> {
        let r: Option<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await?;
        r.map(Delivery::try_from).transpose()
    }

    async fn attempts(&self, id: DeliveryId) -> StoreResult<Vec<Attempt>> {
        let rs: Vec<AttemptRow> = sqlx::query_as(concat!(
            "SELECT ",
            attempt_cols!(),
            " FROM attempts WHERE delivery_id = ? ORDER BY id"
        ))
        .bind(id.0)
        .fetch_all(&self.read)
        .await?;
        rows(rs)
    }

    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        let (pending, waiting, in_flight, dead, oldest): (i64, i64, i64, i64, Option<i64>) =
            sqlx::query_as(
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
            .await?;
        Ok(QueueStats {
            pending: u64::try_from(pending).unwrap_or(0),
            waiting_link: u64::try_from(waiting).unwrap_or(0),
            in_flight: u64::try_from(in_flight).unwrap_or(0),
            dead: u64::try_from(dead).unwrap_or(0),
            oldest_pending: oldest.map(codec::ts).transpose()?,
        })
    }

    async fn dead_letters(
        &self,
        tenant: Option<&TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        let rs: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries WHERE state = 'dead' \
             AND (?1 IS NULL OR tenant = ?1) ORDER BY finished_at DESC, id DESC LIMIT ?2"
        ))
        .bind(tenant.map(TenantId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows(rs)
    }

    async fn replay(
        &self,
        id: DeliveryId,
        target: Option<Target>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let target = target
            .map(|t| serde_json::to_string(&t).map(codec::storable_json))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("target: {e}")))?;
        ops::replay(&self.write, id, target, ms(now)).await
    }

    async fn discard(&self, id: DeliveryId) -> StoreResult<bool> {
        let n = sqlx::query(
            "UPDATE deliveries SET state = 'discarded' WHERE id = ? AND state = 'dead'",
        )
        .bind(id.0)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn link(&self, ticket: &TicketKey) -> StoreResult<Option<Link>> {
        let r: Option<LinkRow> = sqlx::query_as(concat!(
            "SELECT ",
            link_cols!(),
            " FROM links WHERE ticket = ?"
        ))
        .bind(ticket.as_str())
        .fetch_optional(&self.read)
        .await?;
        r.map(Link::try_from).transpose()
    }

    async fn link_by_orange(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        orange_id: &str,
    ) -> StoreResult<Option<Link>> {
        let r: Option<LinkRow> = sqlx::query_as(concat!(
            "SELECT ",
            link_cols!(),
            " FROM links WHERE tenant = ? AND api = ? AND orange_id = ?"
        ))
        .bind(tenant.as_str())
        .bind(api.as_str())
        .bind(orange_id)
        .fetch_optional(&self.read)
        .await?;
        r.map(Link::try_from).transpose()
    }

    async fn add_link(&self, link: &ManualLink, now: Timestamp) -> StoreResult<LinkAdded> {
        links::add(&self.write, link, now).await
    }

    async fn waiting_link(
        &self,
        tenant: Option<&TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        links::waiting(&self.read, tenant, limit).await
    }

    async fn purge_step(
        &self,
        rules: &PurgeRules,
        cursor: &PurgeCursor,
        dry_run: bool,
    ) -> StoreResult<PurgeStep> {
        purge::step(&self.write, &self.read, rules, cursor, dry_run).await
    }

    async fn list_links(
        &self,
        tenant: &TenantId,
        after: Option<&TicketKey>,
        limit: u32,
    ) -> StoreResult<Vec<Link>> {
        let rs: Vec<LinkRow> = sqlx::query_as(concat!(
            "SELECT ",
            link_cols!(),
            " FROM links WHERE tenant = ?1 \
             AND (?2 IS NULL OR ticket > ?2) ORDER BY ticket LIMIT ?3"
        ))
        .bind(tenant.as_str())
        .bind(after.map(TicketKey::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows(rs)
    }

    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let n = sqlx::query(
            "INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
             WHERE leases.owner = excluded.owner OR leases.expires_at <= ?4",
        )
        .bind(name)
        .bind(owner)
        .bind(ms(until))
        .bind(ms(now))
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn release_lease(&self, name: &str, owner: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE name = ? AND owner = ?")
            .bind(name)
            .bind(owner)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn watermark(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM watermarks WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn remote_state(&self, ticket: &TicketKey) -> StoreResult<Option<RemoteState>> {
        let r: Option<sqlx::types::Json<RemoteState>> =
            sqlx::query_scalar("SELECT state FROM remote_state WHERE ticket = ?")
                .bind(ticket.as_str())
                .fetch_optional(&self.read)
                .await?;
        Ok(r.map(|j| j.0))
    }

    async fn commit_poll(
        &self,
        name: &str,
        owner: &str,
        tenant: &TenantId,
        watermark: Option<&str>,
        states: Vec<(TicketKey, RemoteState)>,
        deliveries: Vec<NewDelivery>,
    ) -> StoreResult<()> {
        ops::commit_poll(
            &self.write,
            name,
            owner,
            tenant.as_str(),
            watermark,
            states,
            deliveries,
            now_ms(),
        )
        .await
    }

    async fn links_to_check(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        limit: u32,
    ) -> StoreResult<Vec<Link>> {
        let rs: Vec<LinkRow> = sqlx::query_as(concat!(
            "SELECT ",
            link_cols!(),
            " FROM (SELECT links.*, c.checked_at AS checked_at, c.done AS done FROM links \
             LEFT JOIN link_checks c ON c.ticket = links.ticket \
             WHERE links.tenant = ?1 AND links.api = ?2) \
             WHERE COALESCE(done, 0) = 0 ORDER BY COALESCE(checked_at, -1), ticket LIMIT ?3"
        ))
        .bind(tenant.as_str())
        .bind(api.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows(rs)
    }

    async fn mark_checked(&self, checks: Vec<(TicketKey, bool)>, at: Timestamp) -> StoreResult<()> {
        if checks.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        for (ticket, done) in &checks {
            sqlx::query(
                "INSERT INTO link_checks (ticket, checked_at, done) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (ticket) DO UPDATE SET checked_at = excluded.checked_at, \
                 done = excluded.done",
            )
            .bind(ticket.as_str())
            .bind(ms(at))
            .bind(i64::from(*done))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn find_tickets(&self, tenant: &TenantId, name: &str) -> StoreResult<Vec<TicketKey>> {
        self.find_tickets_by_name(tenant, name).await
    }

    async fn ticket_history(
        &self,
        ticket: &TicketKey,
        limit: u32,
    ) -> StoreResult<super::TicketHistory> {
        self.history(ticket, limit).await
    }

    async fn tenant_activity(
        &self,
        tenant: &TenantId,
        since: Timestamp,
    ) -> StoreResult<super::TenantActivity> {
        use super::activity as a;
        let events = a::events_query(tenant, since)
            .build_query_as()
            .fetch_all(&self.read)
            .await?;
        let attempts = a::attempts_query(tenant, since)
            .build_query_as()
            .fetch_all(&self.read)
            .await?;
        let mut queue = Vec::new();
        for q in a::Queue::ALL {
            let (count, oldest): (i64, Option<i64>) = a::queue_query(tenant, q)
                .build_query_as()
                .fetch_one(&self.read)
                .await?;
            queue.push((q, count, oldest));
        }
        let (parked,): (i64,) = a::parked_query(tenant)
            .build_query_as()
            .fetch_one(&self.read)
            .await?;
        a::assemble(events, attempts, queue, parked)
    }

    async fn record_audit(&self, entry: &super::NewAudit) -> StoreResult<()> {
        super::audit::insert_query(entry)
            .build()
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn audit_log(&self, q: &super::AuditQuery) -> StoreResult<Vec<super::AuditEntry>> {
        let rs: Vec<super::audit::AuditRow> = super::audit::list_query(q)
            .build_query_as()
            .fetch_all(&self.read)
            .await?;
        rows(rs)
    }

    async fn heartbeat(&self, replica: &str, now: Timestamp, until: Timestamp) -> StoreResult<u32> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO replicas (name, expires_at) VALUES (?, ?) \
             ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(replica)
        .bind(ms(until))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM replicas WHERE expires_at <= ?")
            .bind(ms(now) - 3_600_000)
            .execute(&mut *tx)
            .await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replicas WHERE expires_at > ?")
            .bind(ms(now))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX).max(1))
    }
}
