//! The operator's role ([`crate::store::AdminStore`]), the same on both backends but for
//! listing events, purging and the transactions of `ops` and `links`.

/// The [`crate::store::AdminStore`] impl (see `shared::store_roles!`).
macro_rules! admin_store {
    (
        $store:ty,
        read: $read:ident,
        write: $write:ident,
        waiting_from: $waiting_from:literal,
        purge: [$($purge_pool:ident),+]
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::AdminStore for $store {
            async fn event(
                &self,
                id: $crate::domain::EventId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::StoredEvent>> {
                $crate::store::shared::select!(
                    optional $crate::store::codec::EventRow,
                    [$crate::store::codec::event_cols!()]
                    " FROM events WHERE id = $1";
                    on &self.$read;
                    id.to_string()
                )
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
                $crate::store::shared::select!(
                    all $crate::store::codec::DeliveryRow,
                    [$crate::store::codec::delivery_cols!()]
                    " FROM deliveries WHERE event_id = $1 ORDER BY seq, id";
                    on &self.$read;
                    id.to_string()
                )
            }

            async fn dead_letters(
                &self,
                tenant: Option<&$crate::domain::TenantId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delivery>> {
                $crate::store::shared::select!(
                    all $crate::store::codec::DeliveryRow,
                    [$crate::store::codec::delivery_cols!()]
                    " FROM deliveries WHERE state = 'dead' \
                     AND (CAST($1 AS TEXT) IS NULL OR tenant = $1) \
                     ORDER BY finished_at DESC, id DESC LIMIT $2";
                    on &self.$read;
                    tenant.map($crate::domain::TenantId::as_str), i64::from(limit)
                )
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

            async fn discard_parked(
                &self,
                id: $crate::domain::EventId,
                now: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<bool> {
                // The right-hand sides read the row as it was: `discarded` takes the reason.
                let n = sqlx::query(
                    "UPDATE events SET discarded = parked, discarded_at = $1, parked = NULL \
                     WHERE id = $2 AND parked IS NOT NULL",
                )
                .bind($crate::store::codec::ms(now))
                .bind(id.to_string())
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
                let now = $crate::store::codec::ms(now);
                let mut tx = begin(&self.$write).await?;
                links::lock_ticket(&mut tx, link.ticket.as_str()).await?;
                let source = $crate::store::codec::ticket_source(&link.ticket)?;
                let inserted = sqlx::query(
                    "INSERT INTO links (ticket, tenant, source, api, orange_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(link.ticket.as_str())
                .bind(link.tenant.as_str())
                .bind(source.as_str())
                .bind(link.api.as_str())
                .bind(&link.orange_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    // The ticket, or the Orange object, is linked already.
                    let row: $crate::store::codec::LinkRow = sqlx::query_as(concat!(
                        "SELECT ",
                        $crate::store::codec::link_cols!(),
                        " FROM links WHERE ticket = $1 \
                         OR (tenant = $2 AND api = $3 AND orange_id = $4) \
                         ORDER BY ticket = $1 DESC LIMIT 1"
                    ))
                    .bind(link.ticket.as_str())
                    .bind(link.tenant.as_str())
                    .bind(link.api.as_str())
                    .bind(&link.orange_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let l = $crate::domain::Link::try_from(row)?;
                    let same = l.ticket == link.ticket
                        && l.api == link.api
                        && l.orange_id == link.orange_id;
                    return Ok(if same {
                        $crate::store::LinkAdded::Unchanged
                    } else {
                        $crate::store::LinkAdded::Conflict(l)
                    });
                }
                let woken = links::wake_waiting(&mut tx, link.ticket.as_str(), now).await?;
                tx.commit().await?;
                Ok($crate::store::LinkAdded::Added { woken })
            }

            async fn waiting_link(
                &self,
                tenant: Option<&$crate::domain::TenantId>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::Delivery>> {
                $crate::store::shared::select!(
                    all $crate::store::codec::DeliveryRow,
                    [$crate::store::codec::delivery_cols!()]
                    $waiting_from,
                    " WHERE waiting_link IS NOT NULL \
                     AND (CAST($1 AS TEXT) IS NULL OR tenant = $1) \
                     ORDER BY created_at, id LIMIT $2";
                    on &self.$read;
                    tenant.map($crate::domain::TenantId::as_str), i64::from(limit)
                )
            }

            async fn purge_step(
                &self,
                rules: &$crate::store::PurgeRules,
                cursor: &$crate::store::PurgeCursor,
                dry_run: bool,
            ) -> $crate::store::StoreResult<$crate::store::PurgeStep> {
                purge::step($(&self.$purge_pool,)* rules, cursor, dry_run).await
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

            async fn tenant_activity(
                &self,
                tenant: &$crate::domain::TenantId,
                since: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<$crate::store::TenantActivity> {
                use $crate::store::activity as a;
                let events = a::minutes_query(a::Minutes::Events, tenant, since)
                    .build_query_as()
                    .fetch_all(&self.$read)
                    .await?;
                let attempts = a::minutes_query(a::Minutes::Attempts, tenant, since)
                    .build_query_as()
                    .fetch_all(&self.$read)
                    .await?;
                let mut queue = Vec::new();
                for q in a::Queue::ALL {
                    let (count, oldest): (i64, Option<i64>) = a::queue_query(tenant, q)
                        .build_query_as()
                        .fetch_one(&self.$read)
                        .await?;
                    queue.push((q, count, oldest));
                }
                let (parked,): (i64,) = a::parked_query(tenant)
                    .build_query_as()
                    .fetch_one(&self.$read)
                    .await?;
                a::assemble(events, attempts, queue, parked)
            }

            async fn record_audit(
                &self,
                entry: &$crate::store::NewAudit,
            ) -> $crate::store::StoreResult<()> {
                $crate::store::audit::insert_query(entry)
                    .build()
                    .execute(&self.$write)
                    .await?;
                Ok(())
            }

            async fn audit_log(
                &self,
                q: &$crate::store::AuditQuery,
            ) -> $crate::store::StoreResult<Vec<$crate::store::AuditEntry>> {
                let rs: Vec<$crate::store::audit::AuditRow> = $crate::store::audit::list_query(q)
                    .build_query_as()
                    .fetch_all(&self.$read)
                    .await?;
                $crate::store::shared::rows(rs)
            }

            async fn poll_cycles(
                &self,
                tenant: &$crate::domain::TenantId,
            ) -> $crate::store::StoreResult<Vec<$crate::store::PollCycle>> {
                use $crate::store::poll_cycle as pc;
                let rs: Vec<pc::PollCycleRow> = sqlx::query_as(pc::SELECT_OF_TENANT)
                    .bind(tenant.as_str())
                    .fetch_all(&self.$read)
                    .await?;
                $crate::store::shared::rows(rs)
            }
        }
    };
}
pub(crate) use admin_store;
