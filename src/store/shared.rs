//! What both backends do the same way, written once: the role impls, and every query whose
//! SQL is the same on SQLite and PostgreSQL.
//!
//! The SQL uses PostgreSQL's `$n` placeholders, which sqlx also binds on SQLite (by their
//! number, so a placeholder may repeat). Where the two dialects differ in a detail, the shared
//! text takes the form both accept (`CAST($1 AS TEXT)` rather than `$1::text`, `FALSE` rather
//! than `0`).
//!
//! A macro, not code generic over `sqlx::Database`: the bounds that make a query generic
//! (an `Executor` per connection kind, `Encode` + `Type` per bound value, `Decode` per column)
//! would be longer than the queries, and each expansion is checked against its own driver.
//! [`store_roles!`] expands in a backend's module and expects there:
//! - the store type's fields named by its `pools` argument: `read` (a pool for reads) and
//!   `write` (the pool that writes);
//! - a function `begin(&Pool) -> sqlx::Result<Transaction>` (SQLite: `BEGIN IMMEDIATE`);
//! - inherent methods for what the backend does its own way: `ingest_event`, `claim`
//!   (a [`ClaimJob`]), `finish_one` (a [`FinishJob`]), `queue_counts`, `events`, `ping_db`;
//! - modules `ops` (`append_all`, `reserve_tail`, `refresh_head`, `replay`), `links`
//!   (`lock_ticket`, `wake_waiting`, `mark_checked`) and `purge` (`step`, given the pools the
//!   macro's `purge` argument names) with the same signatures on both backends;
//! - and, as the macro's `sql` argument, the few words of SQL that differ: `waiting_from`,
//!   `jsonb` (the cast of a bound JSON text, empty on SQLite), `share_lock` and `update_lock`
//!   (the row locks PostgreSQL takes; SQLite's write transaction holds the whole database).

use crate::domain::{Attempt, DeliveryId, Timestamp};
use crate::store::codec::ms;
use crate::store::{Finish, StoreError, StoreResult};

pub(super) mod admin;
pub(super) mod finish;
pub(super) mod poll;
pub(super) mod purge;
pub(super) mod sessions;
pub(super) mod timeline;

/// Now, as stored (unix milliseconds).
pub(super) fn now_ms() -> i64 {
    ms(Timestamp::now_utc())
}

/// A claim of due deliveries (see `DeliveryQueue::claim_due`); times in unix milliseconds.
pub(super) struct ClaimJob {
    pub owner: String,
    pub now: i64,
    pub lease_until: i64,
    pub limit: i64,
    /// Tenants whose deliveries are passed over.
    pub skip: Vec<String>,
}

/// The outcome of one delivery attempt, as a backend's `finish_one` records it.
pub(super) struct FinishJob {
    pub id: DeliveryId,
    pub owner: String,
    pub attempt: Attempt,
    pub finish: Finish,
}

/// A decoded row, if any.
pub(super) fn one<R, T>(r: Option<R>) -> StoreResult<Option<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    r.map(T::try_from).transpose()
}

/// Decoded rows.
pub(super) fn rows<R, T>(rs: Vec<R>) -> StoreResult<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rs.into_iter().map(T::try_from).collect()
}

/// A `SELECT` of a row type's columns (`[..]`: its `*_cols!()` of `codec` or `sessions`)
/// followed by the rest of the statement (string literals), with the values bound in order,
/// run `on` a pool or a transaction, and decoded through the row's `TryFrom`:
/// `optional Row` reads at most one (`StoreResult<Option<T>>`), `all Row` every row
/// (`StoreResult<Vec<T>>`). Its `?` returns from the calling method.
macro_rules! select {
    (optional $row:ty, $($rest:tt)+) => {
        $crate::store::shared::select!(@run fetch_optional, Option<$row>, one, $($rest)+)
    };
    (all $row:ty, $($rest:tt)+) => {
        $crate::store::shared::select!(@run fetch_all, Vec<$row>, rows, $($rest)+)
    };
    (
        @run $fetch:ident, $got:ty, $decode:ident,
        [$($cols:tt)+] $($sql:expr),+; on $on:expr; $($bind:expr),*
    ) => {{
        let got: $got = sqlx::query_as(concat!("SELECT ", $($cols)+, $($sql),+))
            $(.bind($bind))*
            .$fetch($on)
            .await?;
        $crate::store::shared::$decode(got)
    }};
}
pub(crate) use select;

/// `Store` and the role impls of a backend's store type (see the module's doc for what it expects).
/// `waiting_from` is the `FROM` of the query for deliveries waiting for a link (SQLite pins
/// its partial index there).
macro_rules! store_roles {
    (
        $store:ty, backend: $backend:literal, migrations: $migrations:literal,
        pools: { read: $read:ident, write: $write:ident, purge: [$($purge_pool:ident),+] },
        sql: {
            waiting_from: $waiting_from:literal, jsonb: $jsonb:literal,
            share_lock: $share_lock:literal, update_lock: $update_lock:literal
        }
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn migrate(&self) -> $crate::store::StoreResult<()> {
                /// The backend's migrations.
                static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!($migrations);
                MIGRATOR.run(&self.$write).await?;
                Ok(())
            }

            async fn ping(&self) -> $crate::store::StoreResult<()> {
                self.ping_db().await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::TicketLinks for $store {
            async fn link(
                &self,
                ticket: &$crate::domain::TicketKey,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Link>> {
                $crate::store::shared::select!(
                    optional $crate::store::codec::LinkRow,
                    [$crate::store::codec::link_cols!()]
                    " FROM links WHERE ticket = $1";
                    on &self.$read;
                    // Stored ticket keys hold no NUL (see `text`), and PostgreSQL's TEXT
                    // refuses one.
                    $crate::store::text::strip_nul_ref(ticket.as_str())
                )
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::LinkStore for $store {
            async fn link_by_orange(
                &self,
                tenant: &$crate::domain::TenantId,
                api: $crate::domain::OrangeApi,
                orange_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Link>> {
                $crate::store::shared::select!(
                    optional $crate::store::codec::LinkRow,
                    [$crate::store::codec::link_cols!()]
                    " FROM links WHERE tenant = $1 AND api = $2 AND orange_id = $3";
                    on &self.$read;
                    tenant.as_str(), api.as_str(), orange_id
                )
            }

            async fn list_links(
                &self,
                tenant: &$crate::domain::TenantId,
                after: Option<&$crate::domain::TicketKey>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Link>> {
                $crate::store::shared::select!(
                    all $crate::store::codec::LinkRow,
                    [$crate::store::codec::link_cols!()]
                    " FROM links WHERE tenant = $1 \
                     AND (CAST($2 AS TEXT) IS NULL OR ticket > $2) ORDER BY ticket LIMIT $3";
                    on &self.$read;
                    tenant.as_str(), after.map($crate::domain::TicketKey::as_str), i64::from(limit)
                )
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::IngestStore for $store {
            async fn ingest(
                &self,
                event: $crate::domain::NewEvent,
            ) -> $crate::store::StoreResult<$crate::domain::IngestOutcome> {
                let prepared = $crate::store::codec::PreparedEvent::new(event)?;
                self.ingest_event(prepared).await
            }

            async fn enqueue(
                &self,
                tenant: &$crate::domain::TenantId,
                deliveries: Vec<$crate::domain::NewDelivery>,
            ) -> $crate::store::StoreResult<()> {
                let prepared = $crate::store::codec::prepare_deliveries(&deliveries)?;
                let now = $crate::store::shared::now_ms();
                let mut tx = begin(&self.$write).await?;
                ops::append_all(&mut tx, tenant.as_str(), &prepared, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn is_echo(
                &self,
                tenant: &$crate::domain::TenantId,
                fingerprint: &str,
                now: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<bool> {
                let hit = sqlx::query(
                    "SELECT 1 FROM echoes WHERE tenant = $1 AND fingerprint = $2 \
                     AND expires_at > $3",
                )
                .bind(tenant.as_str())
                .bind(fingerprint)
                .bind($crate::store::codec::ms(now))
                .fetch_optional(&self.$read)
                .await?;
                Ok(hit.is_some())
            }

            async fn settle_parked(
                &self,
                id: $crate::domain::EventId,
                event_type: &str,
                disposition: $crate::domain::Disposition,
                deliveries: Vec<$crate::domain::NewDelivery>,
                now: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<bool> {
                let prepared = $crate::store::codec::prepare_deliveries(&deliveries)?;
                let d = $crate::store::codec::PreparedDisposition::new(&disposition);
                let now = $crate::store::codec::ms(now);
                let event = id.to_string();
                let mut tx = begin(&self.$write).await?;
                // The update locks the event's row on PostgreSQL, so a concurrent replay of it
                // waits, then finds it settled.
                let tenant: Option<String> = sqlx::query_scalar(
                    "UPDATE events SET event_type = $1, skipped = $2, unrouted = $3, parked = $4, \
                     parked_detail = $5, parked_rule = $6, parked_pointer = $7 \
                     WHERE id = $8 AND parked IS NOT NULL RETURNING tenant",
                )
                .bind(event_type)
                .bind(d.skipped.as_deref())
                .bind(d.unrouted)
                .bind(d.parked)
                .bind(d.parked_detail.as_deref())
                .bind(d.parked_rule.as_deref())
                .bind(d.parked_pointer.as_deref())
                .bind(&event)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(tenant) = tenant else {
                    return Ok(false);
                };
                let mut order: Vec<&$crate::store::codec::PreparedDelivery> =
                    prepared.iter().collect();
                // Tickets in key order (stable: each keeps its own order), as appends take
                // them, so that PostgreSQL locks them in the same order.
                order.sort_by(|a, b| a.ticket.cmp(&b.ticket));
                for mine in order.chunk_by(|a, b| a.ticket == b.ticket) {
                    let ticket = mine[0].ticket.as_str();
                    let n = i64::try_from(mine.len()).unwrap_or(i64::MAX);
                    let tail = ops::reserve_tail(&mut tx, ticket, n).await?;
                    // The first delivery still waiting that an event accepted after this one
                    // planned: the replayed calls go before it (a create parked, then its
                    // updates accepted, must reach Orange create first). None: at the tail.
                    let at: Option<i64> = sqlx::query_scalar(
                        "SELECT MIN(seq) FROM deliveries WHERE ticket = $1 \
                         AND state = 'pending' AND event_id > $2",
                    )
                    .bind(ticket)
                    .bind(&event)
                    .fetch_one(&mut *tx)
                    .await?;
                    let first = match at {
                        Some(at) => {
                            // Two steps through negative numbers: `(ticket, seq)` is unique
                            // at every row.
                            sqlx::query(
                                "UPDATE deliveries SET seq = -(seq + $1) \
                                 WHERE ticket = $2 AND seq >= $3",
                            )
                            .bind(n)
                            .bind(ticket)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                            sqlx::query(
                                "UPDATE deliveries SET seq = -seq WHERE ticket = $1 AND seq < 0",
                            )
                            .bind(ticket)
                            .execute(&mut *tx)
                            .await?;
                            at
                        }
                        None => tail,
                    };
                    for (k, d) in (0_i64..).zip(mine) {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO deliveries (tenant, event_id, ticket, seq, state, \
                             is_head, attempts, next_attempt_at, created_at) \
                             VALUES ($1, $2, $3, $4, 'pending', FALSE, 0, $5, $5) RETURNING id",
                        )
                        .bind(&tenant)
                        .bind(&event)
                        .bind(ticket)
                        .bind(first + k)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                        sqlx::query(concat!(
                            "INSERT INTO delivery_calls (delivery_id, target) VALUES ($1, $2",
                            $jsonb,
                            ")"
                        ))
                        .bind(id)
                        .bind(&d.target)
                        .execute(&mut *tx)
                        .await?;
                    }
                    ops::refresh_head(&mut tx, ticket).await?;
                }
                tx.commit().await?;
                Ok(true)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::DeliveryQueue for $store {
            async fn event_headers(
                &self,
                id: $crate::domain::EventId,
            ) -> $crate::store::StoreResult<Vec<(String, String)>> {
                let event = $crate::store::AdminStore::event(self, id).await?;
                Ok(event.map(|e| e.headers).unwrap_or_default())
            }

            async fn claim_skipping(
                &self,
                owner: &str,
                now: $crate::domain::Timestamp,
                lease_until: $crate::domain::Timestamp,
                limit: usize,
                skip: &[$crate::domain::TenantId],
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delivery>> {
                let mut ds = self
                    .claim($crate::store::shared::ClaimJob {
                        owner: owner.to_owned(),
                        now: $crate::store::codec::ms(now),
                        lease_until: $crate::store::codec::ms(lease_until),
                        limit: i64::try_from(limit).unwrap_or(i64::MAX),
                        skip: skip.iter().map(|t| t.as_str().to_owned()).collect(),
                    })
                    .await?;
                ds.sort_by_key(|d| (d.next_attempt_at, d.id));
                Ok(ds)
            }

            async fn finish(
                &self,
                id: $crate::domain::DeliveryId,
                owner: &str,
                attempt: &$crate::domain::Attempt,
                finish: $crate::store::Finish,
            ) -> $crate::store::StoreResult<()> {
                self.finish_one($crate::store::shared::FinishJob {
                    id,
                    owner: owner.to_owned(),
                    attempt: attempt.clone(),
                    finish,
                })
                .await
            }

            async fn delivery(
                &self,
                id: $crate::domain::DeliveryId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Delivery>> {
                $crate::store::shared::select!(
                    optional $crate::store::codec::DeliveryRow,
                    [$crate::store::codec::delivery_cols!()]
                    " FROM deliveries WHERE id = $1";
                    on &self.$read;
                    id.0
                )
            }

            async fn attempts(
                &self,
                id: $crate::domain::DeliveryId,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Attempt>> {
                $crate::store::shared::select!(
                    all $crate::store::codec::AttemptRow,
                    [$crate::store::codec::attempt_cols!()]
                    " FROM attempts WHERE delivery_id = $1 ORDER BY id";
                    on &self.$read;
                    id.0
                )
            }

            async fn queue_stats(&self) -> $crate::store::StoreResult<$crate::store::QueueStats> {
                let (pending, waiting, in_flight, dead, oldest) = self.queue_counts().await?;
                Ok($crate::store::QueueStats {
                    pending: u64::try_from(pending).unwrap_or(0),
                    waiting_link: u64::try_from(waiting).unwrap_or(0),
                    in_flight: u64::try_from(in_flight).unwrap_or(0),
                    dead: u64::try_from(dead).unwrap_or(0),
                    oldest_pending: oldest.map($crate::store::codec::ts).transpose()?,
                })
            }

            async fn heartbeat(
                &self,
                replica: &str,
                now: $crate::domain::Timestamp,
                until: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<u32> {
                let now = $crate::store::codec::ms(now);
                let mut tx = begin(&self.$write).await?;
                sqlx::query(
                    "INSERT INTO replicas (name, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
                )
                .bind(replica)
                .bind($crate::store::codec::ms(until))
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM replicas WHERE expires_at <= $1")
                    .bind(now - 3_600_000)
                    .execute(&mut *tx)
                    .await?;
                let n: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM replicas WHERE expires_at > $1")
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX).max(1))
            }
        }

        $crate::store::shared::poll::poll_state!(
            $store,
            read: $read,
            write: $write,
            jsonb: $jsonb,
            share_lock: $share_lock,
            update_lock: $update_lock
        );
        $crate::store::shared::admin::admin_store!(
            $store,
            read: $read,
            write: $write,
            waiting_from: $waiting_from,
            purge: [$($purge_pool),+]
        );
        $crate::store::shared::timeline::timeline_reads!($store, read: $read);
        $crate::store::shared::sessions::session_store!($store, read: $read, write: $write);
    };
}
pub(crate) use store_roles;
