//! PostgreSQL store: several replicas share one database.
//!
//! Work is claimed with `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other's
//! claims; per-ticket order holds across replicas through a `tickets` row that appends and
//! head changes lock (see [`ops`]); dedupe is a unique index; leases are rows with an expiry.
//! Ingest is group commit, as on SQLite: concurrent `ingest` calls are written by a writer
//! task in one transaction and answered after its commit (see [`writer`]).

mod links;
mod ops;
mod purge;
mod timeline;
mod writer;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
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

/// The PostgreSQL implementation of [`super::Store`].
pub struct PgStore {
    pool: PgPool,
    /// Events for the group-commit writers (see [`writer`]).
    ingest: mpsc::Sender<writer::Job>,
}

impl PgStore {
    /// Connects to a `postgres://` URL (libpq-style parameters such as `sslmode` and
    /// `options=-c search_path=…` are honoured).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let ingest = writer::spawn(&pool);
        Ok(Self { pool, ingest })
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
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("src/store/migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome> {
        let prepared = PreparedEvent::new(event)?;
        let (reply, answer) = oneshot::channel();
        self.ingest
            .send((prepared, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the ingest writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the ingest writer has stopped".into()))?
    }

    async fn is_echo(
        &self,
        tenant: &TenantId,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let hit: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM echoes WHERE tenant = $1 AND fingerprint = $2 AND expires_at > $3",
        )
        .bind(tenant.as_str())
        .bind(fingerprint)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(hit.is_some())
    }

    async fn event(&self, id: EventId) -> StoreResult<Option<StoredEvent>> {
        let r: Option<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_cols!(),
            " FROM events WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        r.map(StoredEvent::try_from).transpose()
    }

    async fn list_events(&self, q: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        let mut b = sqlx::QueryBuilder::new(concat!(
            "SELECT ",
            event_cols!(),
            " FROM events WHERE 1 = 1"
        ));
        if let Some(t) = &q.tenant {
            b.push(" AND tenant = ").push_bind(t.as_str().to_owned());
        }
        if let Some(t) = &q.ticket {
            // Stored ticket keys hold no NUL (see `text`), and TEXT binds refuse one.
            b.push(" AND ticket = ")
                .push_bind(super::text::strip_nul_ref(t.as_str()).into_owned());
        }
        if let Some(before) = q.before {
            b.push(" AND id < ").push_bind(before.to_string());
        }
        match q.state {
            Some(EventState::Parked) => b.push(" AND parked IS NOT NULL"),
            Some(EventState::Unrouted) => b.push(" AND unrouted"),
            None => &mut b,
        };
        if let Some(t) = &q.event_type {
            b.push(" AND event_type = ").push_bind(t.clone());
        }
        b.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(q.limit));
        let rs: Vec<EventRow> = b.build_query_as().fetch_all(&self.pool).await?;
        rows(rs)
    }

    async fn event_deliveries(&self, id: EventId) -> StoreResult<Vec<Delivery>> {
        let rs: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries WHERE event_id = $1 ORDER BY seq, id"
        ))
        .bind(id.to_string())
        .fetch_all(&self.pool)
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
        ops::settle_parked(&self.pool, id, event_type, &d, &prepared, ms(now)).await
    }

    async fn enqueue(&self, tenant: &TenantId, deliveries: Vec<NewDelivery>) -> StoreResult<()> {
        let prepared = codec::prepare_deliveries(&deliveries)?;
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        ops::append_all(&mut tx, tenant.as_str(), None, &prepared, now).await?;
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
        // Heads only (partial indexes), and never beside a live in-flight delivery of the same
        // ticket. Rows another replica is claiming right now are skipped, not waited for; a
        // row claimed and committed meanwhile is re-checked by PostgreSQL against its new
        // version (no longer due) and left out.
        let rs: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "WITH p AS (SELECT id, next_attempt_at AS k FROM deliveries d \
                 WHERE is_head AND state = 'pending' AND next_attempt_at <= $3 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.ticket = d.ticket \
                   AND o.state = 'in_flight' AND o.lease_until > $3) \
                 ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED), \
             e AS (SELECT id, next_attempt_at AS k FROM deliveries d \
                 WHERE is_head AND state = 'in_flight' AND lease_until <= $3 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.ticket = d.ticket \
                   AND o.state = 'in_flight' AND o.id <> d.id AND o.lease_until > $3) \
                 ORDER BY lease_until, id LIMIT $4 FOR UPDATE SKIP LOCKED), \
             pick AS (SELECT id AS pid FROM (SELECT id, k FROM p UNION ALL SELECT id, k FROM e) u \
                 ORDER BY k, id LIMIT $4) \
             UPDATE deliveries SET state = 'in_flight', lease_owner = $1, lease_until = $2 \
             FROM pick WHERE deliveries.id = pick.pid RETURNING ",
            delivery_cols!()
        ))
        .bind(owner)
        .bind(ms(lease_until))
        .bind(ms(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut ds: Vec<Delivery> = rows(rs)?;
        ds.sort_by_key(|d| (d.next_attempt_at, d.id));
        Ok(ds)
    }

    async fn finish(
        &self,
        id: DeliveryId,
        owner: &str,
        attempt: &Attempt,
        finish: Finish,
    ) -> StoreResult<()> {
        ops::finish(&self.pool, id, owner, attempt, finish).await
    }

    async fn delivery(&self, id: DeliveryId) -> StoreResult<Option<Delivery>> {
        let r: Option<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        r.map(Delivery::try_from).transpose()
    }

    async fn attempts(&self, id: DeliveryId) -> StoreResult<Vec<Attempt>> {
        let rs: Vec<AttemptRow> = sqlx::query_as(concat!(
            "SELECT ",
            attempt_cols!(),
            " FROM attempts WHERE delivery_id = $1 ORDER BY id"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows(rs)
    }

    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        let (pending, waiting, in_flight, dead, oldest): (i64, i64, i64, i64, Option<i64>) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM deliveries \
                 WHERE state = 'pending' AND waiting_link IS NULL), \
                 (SELECT COUNT(*) FROM deliveries \
                 WHERE waiting_link IS NOT NULL AND state = 'pending'), \
                 (SELECT COUNT(*) FROM deliveries WHERE state = 'in_flight'), \
                 (SELECT COUNT(*) FROM deliveries WHERE state = 'dead'), \
                 (SELECT MIN(created_at) FROM deliveries \
                 WHERE state = 'pending' AND waiting_link IS NULL)",
            )
            .fetch_one(&self.pool)
            .await?;
        Ok(QueueStats {
            pending: u64::try_from(pending).unwrap_or(0),
            waiting_link: u64::try_from(waiting).unwrap_or(0),
            in_flight: u64::try_from(in_flight).unwrap_or(0),
            dead: u64::try_from(dead).unwrap_or(0),
            oldest_pending: oldest.map(codec::ts).transpose()?,
        })
    }

    async fn add_link(&self, link: &ManualLink, now: Timestamp) -> StoreResult<LinkAdded> {
        links::add(&self.pool, link, now).await
    }

    async fn waiting_link(
        &self,
        tenant: Option<&TenantId>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        links::waiting(&self.pool, tenant, limit).await
    }

    async fn purge_step(
        &self,
        rules: &PurgeRules,
        cursor: &PurgeCursor,
        dry_run: bool,
    ) -> StoreResult<PurgeStep> {
        purge::step(&self.pool, rules, cursor, dry_run).await
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
             AND ($1::text IS NULL OR tenant = $1) ORDER BY finished_at DESC, id DESC LIMIT $2"
        ))
        .bind(tenant.map(TenantId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        ops::replay(&self.pool, id, target, ms(now)).await
    }

    async fn discard(&self, id: DeliveryId) -> StoreResult<bool> {
        let n = sqlx::query(
            "UPDATE deliveries SET state = 'discarded' WHERE id = $1 AND state = 'dead'",
        )
        .bind(id.0)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn link(&self, ticket: &TicketKey) -> StoreResult<Option<Link>> {
        let r: Option<LinkRow> = sqlx::query_as(concat!(
            "SELECT ",
            link_cols!(),
            " FROM links WHERE ticket = $1"
        ))
        .bind(super::text::strip_nul_ref(ticket.as_str()))
        .fetch_optional(&self.pool)
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
            " FROM links WHERE tenant = $1 AND api = $2 AND orange_id = $3"
        ))
        .bind(tenant.as_str())
        .bind(api.as_str())
        .bind(orange_id)
        .fetch_optional(&self.pool)
        .await?;
        r.map(Link::try_from).transpose()
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
            " FROM links WHERE tenant = $1 \
             AND ($2::text IS NULL OR ticket > $2) ORDER BY ticket LIMIT $3"
        ))
        .bind(tenant.as_str())
        .bind(after.map(TicketKey::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
            "INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at \
             WHERE leases.owner = EXCLUDED.owner OR leases.expires_at <= $4",
        )
        .bind(name)
        .bind(owner)
        .bind(ms(until))
        .bind(ms(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn release_lease(&self, name: &str, owner: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn watermark(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM watermarks WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn remote_state(&self, ticket: &TicketKey) -> StoreResult<Option<RemoteState>> {
        let r: Option<sqlx::types::Json<RemoteState>> =
            sqlx::query_scalar("SELECT state FROM remote_state WHERE ticket = $1")
                .bind(ticket.as_str())
                .fetch_optional(&self.pool)
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
            &self.pool,
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
             WHERE links.tenant = $1 AND links.api = $2) AS l \
             WHERE NOT COALESCE(done, FALSE) ORDER BY COALESCE(checked_at, -1), ticket LIMIT $3"
        ))
        .bind(tenant.as_str())
        .bind(api.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows(rs)
    }

    async fn mark_checked(&self, checks: Vec<(TicketKey, bool)>, at: Timestamp) -> StoreResult<()> {
        if checks.is_empty() {
            return Ok(());
        }
        let (tickets, done): (Vec<String>, Vec<bool>) = checks
            .into_iter()
            .map(|(t, d)| (t.as_str().to_owned(), d))
            .unzip();
        sqlx::query(
            "INSERT INTO link_checks (ticket, checked_at, done) \
             SELECT t, $2, d FROM UNNEST($1::text[], $3::bool[]) AS x(t, d) \
             ON CONFLICT (ticket) DO UPDATE SET checked_at = EXCLUDED.checked_at, \
             done = EXCLUDED.done",
        )
        .bind(&tickets)
        .bind(ms(at))
        .bind(&done)
        .execute(&self.pool)
        .await?;
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
            .fetch_all(&self.pool)
            .await?;
        let attempts = a::attempts_query(tenant, since)
            .build_query_as()
            .fetch_all(&self.pool)
            .await?;
        let mut queue = Vec::new();
        for q in a::Queue::ALL {
            let (count, oldest): (i64, Option<i64>) = a::queue_query(tenant, q)
                .build_query_as()
                .fetch_one(&self.pool)
                .await?;
            queue.push((q, count, oldest));
        }
        let (parked,): (i64,) = a::parked_query(tenant)
            .build_query_as()
            .fetch_one(&self.pool)
            .await?;
        a::assemble(events, attempts, queue, parked)
    }

    async fn record_audit(&self, entry: &super::NewAudit) -> StoreResult<()> {
        super::audit::insert_query(entry)
            .build()
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn audit_log(&self, q: &super::AuditQuery) -> StoreResult<Vec<super::AuditEntry>> {
        let rs: Vec<super::audit::AuditRow> = super::audit::list_query(q)
            .build_query_as()
            .fetch_all(&self.pool)
            .await?;
        rows(rs)
    }

    async fn heartbeat(&self, replica: &str, now: Timestamp, until: Timestamp) -> StoreResult<u32> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO replicas (name, expires_at) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET expires_at = EXCLUDED.expires_at",
        )
        .bind(replica)
        .bind(ms(until))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM replicas WHERE expires_at <= $1")
            .bind(ms(now) - 3_600_000)
            .execute(&mut *tx)
            .await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replicas WHERE expires_at > $1")
            .bind(ms(now))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX).max(1))
    }
}
