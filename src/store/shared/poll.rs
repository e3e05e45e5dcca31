//! The poller's role ([`crate::store::PollState`]), the same on both backends but for the
//! commit and the marks (`ops::commit_poll`, `links::mark_checked`).

/// The [`crate::store::PollState`] impl (see `shared::store_roles!`).
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

            async fn record_poll_cycle(
                &self,
                c: &$crate::store::PollCycle,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::{codec::ms, poll_cycle as pc, text::strip_nul};
                let ended = ms(c.ended_at);
                let mut tx = begin(&self.$write).await?;
                sqlx::query(pc::UPSERT)
                    .bind(c.tenant.as_str())
                    .bind(strip_nul(c.replica.clone()))
                    .bind(ms(c.started_at))
                    .bind(ended)
                    .bind(c.outcome.as_str())
                    .bind(c.detail.clone().map(strip_nul))
                    .bind(i64::from(c.orange_calls))
                    .bind(i64::from(c.changes))
                    .bind(i64::from(c.writebacks))
                    .bind(i64::from(c.failed_reads))
                    .bind(pc::modes_text(c)?)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM poll_cycles WHERE tenant = $1 AND ended_at < $2")
                    .bind(c.tenant.as_str())
                    .bind(ended - pc::FORGET_AFTER_MS)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use poll_state;
