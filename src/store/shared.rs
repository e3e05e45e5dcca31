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
//! - the store type's fields `$read` (a pool for reads) and `$write` (the pool that writes);
//! - a function `begin(&Pool) -> sqlx::Result<Transaction>` (SQLite: `BEGIN IMMEDIATE`);
//! - inherent methods for what the backend does its own way: `ingest_event`,
//!   `enqueue_prepared`, `claim`, `finish_one`, `queue_counts`, `events`, `purge`;
//! - modules `ops` (`settle_parked`, `replay`, `commit_poll`) and `links` (`add`,
//!   `mark_checked`) with the same signatures on both backends.

use crate::domain::Timestamp;
use crate::store::codec::ms;
use crate::store::{StoreError, StoreResult};

pub(super) mod timeline;

/// Now, as stored (unix milliseconds).
pub(super) fn now_ms() -> i64 {
    ms(Timestamp::now_utc())
}

/// Decoded rows.
pub(super) fn rows<R, T>(rs: Vec<R>) -> StoreResult<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rs.into_iter().map(T::try_from).collect()
}

/// The role impls of a backend's store type (see the module's doc for what it expects).
/// `waiting_from` is the `FROM` of the query for deliveries waiting for a link (SQLite pins
/// its partial index there).
macro_rules! store_roles {
    ($store:ty, read: $read:ident, write: $write:ident, waiting_from: $waiting_from:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::LinkStore for $store {
            async fn link(
                &self,
                ticket: &$crate::domain::TicketKey,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Link>> {
                let r: Option<$crate::store::codec::LinkRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::link_cols!(),
                    " FROM links WHERE ticket = $1"
                ))
                // Stored ticket keys hold no NUL (see `text`), and PostgreSQL's TEXT refuses one.
                .bind($crate::store::text::strip_nul_ref(ticket.as_str()))
                .fetch_optional(&self.$read)
                .await?;
                r.map($crate::domain::Link::try_from).transpose()
            }

            async fn link_by_orange(
                &self,
                tenant: &$crate::domain::TenantId,
                api: $crate::domain::OrangeApi,
                orange_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Link>> {
                let r: Option<$crate::store::codec::LinkRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::link_cols!(),
                    " FROM links WHERE tenant = $1 AND api = $2 AND orange_id = $3"
                ))
                .bind(tenant.as_str())
                .bind(api.as_str())
                .bind(orange_id)
                .fetch_optional(&self.$read)
                .await?;
                r.map($crate::domain::Link::try_from).transpose()
            }

            async fn list_links(
                &self,
                tenant: &$crate::domain::TenantId,
                after: Option<&$crate::domain::TicketKey>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Link>> {
                let rs: Vec<$crate::store::codec::LinkRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::link_cols!(),
                    " FROM links WHERE tenant = $1 \
                     AND (CAST($2 AS TEXT) IS NULL OR ticket > $2) ORDER BY ticket LIMIT $3"
                ))
                .bind(tenant.as_str())
                .bind(after.map($crate::domain::TicketKey::as_str))
                .bind(i64::from(limit))
                .fetch_all(&self.$read)
                .await?;
                $crate::store::shared::rows(rs)
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
                ops::settle_parked(&self.$write, id, event_type, &d, &prepared, now).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::DeliveryQueue for $store {
            async fn enqueue(
                &self,
                tenant: &$crate::domain::TenantId,
                deliveries: Vec<$crate::domain::NewDelivery>,
            ) -> $crate::store::StoreResult<()> {
                let prepared = $crate::store::codec::prepare_deliveries(&deliveries)?;
                let now = $crate::store::shared::now_ms();
                self.enqueue_prepared(tenant.as_str(), &prepared, now).await
            }

            async fn claim_due(
                &self,
                owner: &str,
                now: $crate::domain::Timestamp,
                lease_until: $crate::domain::Timestamp,
                limit: usize,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delivery>> {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let (now, until) = (
                    $crate::store::codec::ms(now),
                    $crate::store::codec::ms(lease_until),
                );
                let mut ds = self.claim(owner, now, until, limit).await?;
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
                self.finish_one(id, owner, attempt, finish).await
            }

            async fn delivery(
                &self,
                id: $crate::domain::DeliveryId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Delivery>> {
                let r: Option<$crate::store::codec::DeliveryRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::delivery_cols!(),
                    " FROM deliveries WHERE id = $1"
                ))
                .bind(id.0)
                .fetch_optional(&self.$read)
                .await?;
                r.map($crate::domain::Delivery::try_from).transpose()
            }

            async fn attempts(
                &self,
                id: $crate::domain::DeliveryId,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Attempt>> {
                let rs: Vec<$crate::store::codec::AttemptRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::attempt_cols!(),
                    " FROM attempts WHERE delivery_id = $1 ORDER BY id"
                ))
                .bind(id.0)
                .fetch_all(&self.$read)
                .await?;
                $crate::store::shared::rows(rs)
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

        $crate::store::shared::poll_state!($store, read: $read, write: $write);
        $crate::store::shared::admin_store!(
            $store,
            read: $read,
            write: $write,
            waiting_from: $waiting_from
        );
        $crate::store::shared::timeline::timeline_reads!($store, read: $read);
    };
}
pub(crate) use store_roles;

/// The [`crate::store::PollState`] impl (see [`store_roles!`]).
macro_rules! poll_state {
    ($store:ty, read: $read:ident, write: $write:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::PollState for $store {
            async fn try_lease(
                &self,
                name: &str,
                owner: &str,
                now: $crate::domain::Timestamp,
                until: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<bool> {
                let n = sqlx::query(
                    "INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, \
                     expires_at = excluded.expires_at \
                     WHERE leases.owner = excluded.owner OR leases.expires_at <= $4",
                )
                .bind(name)
                .bind(owner)
                .bind($crate::store::codec::ms(until))
                .bind($crate::store::codec::ms(now))
                .execute(&self.$write)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn release_lease(
                &self,
                name: &str,
                owner: &str,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
                    .bind(name)
                    .bind(owner)
                    .execute(&self.$write)
                    .await?;
                Ok(())
            }

            async fn watermark(&self, name: &str) -> $crate::store::StoreResult<Option<String>> {
                Ok(
                    sqlx::query_scalar("SELECT value FROM watermarks WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.$read)
                        .await?,
                )
            }

            async fn remote_state(
                &self,
                ticket: &$crate::domain::TicketKey,
            ) -> $crate::store::StoreResult<Option<$crate::domain::RemoteState>> {
                let r: Option<sqlx::types::Json<$crate::domain::RemoteState>> =
                    sqlx::query_scalar("SELECT state FROM remote_state WHERE ticket = $1")
                        .bind(ticket.as_str())
                        .fetch_optional(&self.$read)
                        .await?;
                Ok(r.map(|j| j.0))
            }

            async fn commit_poll(
                &self,
                name: &str,
                owner: &str,
                tenant: &$crate::domain::TenantId,
                watermark: Option<&str>,
                states: Vec<($crate::domain::TicketKey, $crate::domain::RemoteState)>,
                deliveries: Vec<$crate::domain::NewDelivery>,
            ) -> $crate::store::StoreResult<()> {
                let prepared = $crate::store::codec::prepare_deliveries(&deliveries)?;
                let now = $crate::store::shared::now_ms();
                let at = (name, owner, tenant.as_str());
                ops::commit_poll(&self.$write, at, watermark, states, &prepared, now).await
            }

            async fn links_to_check(
                &self,
                tenant: &$crate::domain::TenantId,
                api: $crate::domain::OrangeApi,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Link>> {
                let rs: Vec<$crate::store::codec::LinkRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::link_cols!(),
                    " FROM (SELECT links.*, c.checked_at AS checked_at, c.done AS done \
                     FROM links LEFT JOIN link_checks c ON c.ticket = links.ticket \
                     WHERE links.tenant = $1 AND links.api = $2) AS l \
                     WHERE NOT COALESCE(done, FALSE) \
                     ORDER BY COALESCE(checked_at, -1), ticket LIMIT $3"
                ))
                .bind(tenant.as_str())
                .bind(api.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.$read)
                .await?;
                $crate::store::shared::rows(rs)
            }

            async fn mark_checked(
                &self,
                checks: Vec<($crate::domain::TicketKey, bool)>,
                at: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<()> {
                if checks.is_empty() {
                    return Ok(());
                }
                links::mark_checked(&self.$write, checks, $crate::store::codec::ms(at)).await
            }
        }
    };
}
pub(crate) use poll_state;

/// The [`crate::store::AdminStore`] impl (see [`store_roles!`]).
macro_rules! admin_store {
    ($store:ty, read: $read:ident, write: $write:ident, waiting_from: $waiting_from:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::AdminStore for $store {
            async fn event(
                &self,
                id: $crate::domain::EventId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::StoredEvent>> {
                let r: Option<$crate::store::codec::EventRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::event_cols!(),
                    " FROM events WHERE id = $1"
                ))
                .bind(id.to_string())
                .fetch_optional(&self.$read)
                .await?;
                r.map($crate::domain::StoredEvent::try_from).transpose()
            }

            async fn list_events(
                &self,
                q: &$crate::store::EventQuery,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::StoredEvent>> {
                self.events(q).await
            }

            async fn event_deliveries(
                &self,
                id: $crate::domain::EventId,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delivery>> {
                let rs: Vec<$crate::store::codec::DeliveryRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::delivery_cols!(),
                    " FROM deliveries WHERE event_id = $1 ORDER BY seq, id"
                ))
                .bind(id.to_string())
                .fetch_all(&self.$read)
                .await?;
                $crate::store::shared::rows(rs)
            }

            async fn dead_letters(
                &self,
                tenant: Option<&$crate::domain::TenantId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delivery>> {
                let rs: Vec<$crate::store::codec::DeliveryRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::delivery_cols!(),
                    " FROM deliveries WHERE state = 'dead' \
                     AND (CAST($1 AS TEXT) IS NULL OR tenant = $1) \
                     ORDER BY finished_at DESC, id DESC LIMIT $2"
                ))
                .bind(tenant.map($crate::domain::TenantId::as_str))
                .bind(i64::from(limit))
                .fetch_all(&self.$read)
                .await?;
                $crate::store::shared::rows(rs)
            }

            async fn replay(
                &self,
                id: $crate::domain::DeliveryId,
                target: Option<$crate::domain::Target>,
                now: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<bool> {
                let target = target
                    .map(|t| serde_json::to_string(&t).map($crate::store::codec::storable_json))
                    .transpose()
                    .map_err(|e| $crate::store::StoreError::Corrupt(format!("target: {e}")))?;
                ops::replay(&self.$write, id, target, $crate::store::codec::ms(now)).await
            }

            async fn discard(
                &self,
                id: $crate::domain::DeliveryId,
            ) -> $crate::store::StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE deliveries SET state = 'discarded' WHERE id = $1 AND state = 'dead'",
                )
                .bind(id.0)
                .execute(&self.$write)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn add_link(
                &self,
                link: &$crate::store::ManualLink,
                now: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<$crate::store::LinkAdded> {
                links::add(&self.$write, link, now).await
            }

            async fn waiting_link(
                &self,
                tenant: Option<&$crate::domain::TenantId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delivery>> {
                let rs: Vec<$crate::store::codec::DeliveryRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::codec::delivery_cols!(),
                    $waiting_from,
                    " WHERE waiting_link IS NOT NULL \
                     AND (CAST($1 AS TEXT) IS NULL OR tenant = $1) \
                     ORDER BY created_at, id LIMIT $2"
                ))
                .bind(tenant.map($crate::domain::TenantId::as_str))
                .bind(i64::from(limit))
                .fetch_all(&self.$read)
                .await?;
                $crate::store::shared::rows(rs)
            }

            async fn purge_step(
                &self,
                rules: &$crate::store::PurgeRules,
                cursor: &$crate::store::PurgeCursor,
                dry_run: bool,
            ) -> $crate::store::StoreResult<$crate::store::PurgeStep> {
                self.purge(rules, cursor, dry_run).await
            }

            async fn find_tickets(
                &self,
                tenant: &$crate::domain::TenantId,
                name: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::TicketKey>> {
                self.find_tickets_by_name(tenant, name).await
            }

            async fn ticket_history(
                &self,
                ticket: &$crate::domain::TicketKey,
                limit: u32,
            ) -> $crate::store::StoreResult<$crate::store::TicketHistory> {
                self.history(ticket, limit).await
            }
        }
    };
}
pub(crate) use admin_store;
