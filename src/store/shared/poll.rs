//! The poller's role ([`crate::store::PollState`]), the same on both backends but for the
//! marks (`links::mark_checked`) and the appending of the write-backs (`ops::append_all`).

/// The [`crate::store::PollState`] impl (see `shared::store_roles!`).
macro_rules! poll_state {
    (
        $store:ty,
        read: $read:ident,
        write: $write:ident,
        jsonb: $jsonb:literal,
        share_lock: $share_lock:literal,
        update_lock: $update_lock:literal
    ) => {
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
                let mut tx = begin(&self.$write).await?;
                // PostgreSQL keeps the lease row locked until the commit, so a takeover waits
                // for it: the watermark only moves while `owner` holds the lease.
                let holder: Option<String> = sqlx::query_scalar(concat!(
                    "SELECT owner FROM leases WHERE name = $1",
                    $share_lock
                ))
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
                if holder.as_deref() != Some(owner) {
                    return Err($crate::store::StoreError::LeaseLost(format!(
                        "lease {name}"
                    )));
                }
                ops::append_all(&mut tx, tenant.as_str(), &prepared, now).await?;
                for (ticket, state) in &states {
                    let json = serde_json::to_string(state)
                        .map($crate::store::codec::storable_json)
                        .map_err(|e| {
                            $crate::store::StoreError::Corrupt(format!("remote state: {e}"))
                        })?;
                    // Locked on PostgreSQL: the state diffed against is the one replaced.
                    let prior: Option<sqlx::types::Json<$crate::domain::RemoteState>> =
                        sqlx::query_scalar(concat!(
                            "SELECT state FROM remote_state WHERE ticket = $1",
                            $update_lock
                        ))
                        .bind(ticket.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let changes =
                        $crate::store::codec::observed(prior.as_ref().map(|p| &p.0), state)?;
                    if !changes.is_empty() {
                        // One statement; the rows are inserted, and numbered, in list order.
                        let mut b = sqlx::QueryBuilder::new(
                            "INSERT INTO observations (ticket, at, change) ",
                        );
                        b.push_values(&changes, |mut row, change| {
                            row.push_bind(ticket.as_str())
                                .push_bind(now)
                                .push_bind(change);
                        });
                        b.build().execute(&mut *tx).await?;
                    }
                    sqlx::query(concat!(
                        "INSERT INTO remote_state (ticket, state) VALUES ($1, $2",
                        $jsonb,
                        ") ON CONFLICT (ticket) DO UPDATE SET state = excluded.state"
                    ))
                    .bind(ticket.as_str())
                    .bind(json)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(w) = watermark {
                    sqlx::query(
                        "INSERT INTO watermarks (name, value) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    )
                    .bind(name)
                    .bind($crate::store::text::strip_nul_ref(w))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn links_to_check(
                &self,
                tenant: &$crate::domain::TenantId,
                api: $crate::domain::OrangeApi,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Link>> {
                $crate::store::shared::select!(
                    all $crate::store::codec::LinkRow,
                    [$crate::store::codec::link_cols!()]
                    " FROM (SELECT links.*, c.checked_at AS checked_at, c.done AS done \
                     FROM links LEFT JOIN link_checks c ON c.ticket = links.ticket \
                     WHERE links.tenant = $1 AND links.api = $2) AS l \
                     WHERE NOT COALESCE(done, FALSE) \
                     ORDER BY COALESCE(checked_at, -1), ticket LIMIT $3";
                    on &self.$read;
                    tenant.as_str(), api.as_str(), i64::from(limit)
                )
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
