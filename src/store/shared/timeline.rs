//! The reads of a ticket's timeline, the same on both backends: a ticket found by its number
//! or Orange id, and all the store keeps about it. Every query here follows an index on the
//! ticket (or on the tenant and name), so a timeline costs a handful of index lookups however
//! big the store.

use crate::store::codec::AttemptRow;

/// An attempt row with the delivery it belongs to.
#[derive(sqlx::FromRow)]
pub(crate) struct AttemptWithId {
    pub delivery_id: i64,
    #[sqlx(flatten)]
    pub attempt: AttemptRow,
}

/// Inherent `find_tickets_by_name` and `history` of a backend's store type, on pool `$read`.
macro_rules! timeline_reads {
    ($store:ty, read: $read:ident) => {
        impl $store {
            async fn find_tickets_by_name(
                &self,
                tenant: &$crate::domain::TenantId,
                name: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::domain::TicketKey>> {
                // `api IN (…)` lets the (tenant, api, orange_id) index answer without knowing
                // the API.
                let found: Vec<String> = sqlx::query_scalar(
                    "SELECT ticket FROM ticket_aliases WHERE tenant = $1 AND alias = $2 \
                     UNION SELECT ticket FROM links WHERE tenant = $1 \
                     AND api IN ('incident', 'trouble_ticket', 'ordering', 'core_information') \
                     AND orange_id = $2 ORDER BY 1",
                )
                .bind(tenant.as_str())
                .bind(name)
                .fetch_all(&self.$read)
                .await?;
                Ok(found
                    .into_iter()
                    .map($crate::domain::TicketKey::from_stored)
                    .collect())
            }

            async fn history(
                &self,
                ticket: &$crate::domain::TicketKey,
                limit: u32,
            ) -> $crate::store::StoreResult<$crate::store::TicketHistory> {
                use $crate::store::{AdminStore as _, PollState as _, TicketLinks as _};
                let limit = limit.max(1);
                let mut events = self
                    .list_events(&$crate::store::EventQuery {
                        state: None,
                        event_type: None,
                        tenant: None,
                        ticket: Some(ticket.clone()),
                        before: None,
                        limit: limit + 1,
                    })
                    .await?;
                let events_truncated = events.len() > limit as usize;
                events.truncate(limit as usize);
                events.reverse();

                let mut deliveries: Vec<$crate::domain::Delivery> = $crate::store::shared::select!(
                    all $crate::store::codec::DeliveryRow,
                    [$crate::store::codec::delivery_cols!()]
                    " FROM deliveries WHERE ticket = $1 ORDER BY seq DESC LIMIT $2";
                    on &self.$read;
                    ticket.as_str(), i64::from(limit)
                )?;
                deliveries.reverse();

                let mut attempts = Vec::new();
                if let Some(first) = deliveries.first() {
                    let rs: Vec<$crate::store::shared::timeline::AttemptWithId> =
                        sqlx::query_as(concat!(
                            "SELECT delivery_id, ",
                            $crate::store::codec::attempt_cols!(),
                            " FROM attempts WHERE delivery_id IN \
                             (SELECT id FROM deliveries WHERE ticket = $1 AND seq >= $2) \
                             ORDER BY id"
                        ))
                        .bind(ticket.as_str())
                        .bind(first.seq)
                        .fetch_all(&self.$read)
                        .await?;
                    for r in rs {
                        let attempt = $crate::domain::Attempt::try_from(r.attempt)?;
                        attempts.push(($crate::domain::DeliveryId(r.delivery_id), attempt));
                    }
                }

                let mut observations: Vec<$crate::domain::Observation> =
                    $crate::store::shared::select!(
                        all $crate::store::codec::ObservationRow,
                        [$crate::store::codec::observation_cols!()]
                        " FROM observations WHERE ticket = $1 ORDER BY id DESC LIMIT $2";
                        on &self.$read;
                        ticket.as_str(), i64::from(limit)
                    )?;
                observations.reverse();
                let mut numbers: Vec<String> = events
                    .iter()
                    .filter_map(|e| e.ticket_number.clone())
                    .collect();
                numbers.sort();
                numbers.dedup();

                Ok($crate::store::TicketHistory {
                    events,
                    events_truncated,
                    deliveries,
                    attempts,
                    link: self.link(ticket).await?,
                    remote_state: self.remote_state(ticket).await?,
                    observations,
                    numbers,
                })
            }
        }
    };
}
pub(crate) use timeline_reads;
