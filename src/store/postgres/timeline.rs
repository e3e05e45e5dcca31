//! PostgreSQL reads for the ticket timeline: a ticket found by its number or Orange id, and all
//! the store keeps about it. Every query here follows an index on the ticket (or on the
//! tenant and name), so a timeline costs a handful of index lookups however big the store.

use super::{PgStore, rows};
use crate::domain::{Attempt, DeliveryId, Link, Observation, RemoteState, TenantId, TicketKey};
use crate::store::codec::{
    AttemptRow, DeliveryRow, LinkRow, ObservationRow, attempt_cols, delivery_cols, link_cols,
    observation_cols,
};
use crate::store::{EventQuery, Store, StoreResult, TicketHistory};

impl PgStore {
    pub(super) async fn find_tickets_by_name(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> StoreResult<Vec<TicketKey>> {
        // `api IN (…)` lets the (tenant, api, orange_id) index answer without knowing the API.
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT ticket FROM ticket_aliases WHERE tenant = $1 AND alias = $2 \
             UNION SELECT ticket FROM links WHERE tenant = $1 \
             AND api IN ('incident', 'trouble_ticket', 'ordering', 'core_information') \
             AND orange_id = $2 ORDER BY 1",
        )
        .bind(tenant.as_str())
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(found.into_iter().map(TicketKey::from_stored).collect())
    }

    pub(super) async fn history(
        &self,
        ticket: &TicketKey,
        limit: u32,
    ) -> StoreResult<TicketHistory> {
        let limit = limit.max(1);
        let mut events = self
            .list_events(&EventQuery {
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

        let ds: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries WHERE ticket = $1 ORDER BY seq DESC LIMIT $2"
        ))
        .bind(ticket.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut deliveries: Vec<crate::domain::Delivery> = rows(ds)?;
        deliveries.reverse();

        let mut attempts = Vec::new();
        if let Some(first) = deliveries.first() {
            let rs: Vec<(i64, AttemptRow)> = sqlx::query_as::<_, AttemptWithId>(concat!(
                "SELECT delivery_id, ",
                attempt_cols!(),
                " FROM attempts WHERE delivery_id IN \
                 (SELECT id FROM deliveries WHERE ticket = $1 AND seq >= $2) ORDER BY id"
            ))
            .bind(ticket.as_str())
            .bind(first.seq)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| (r.delivery_id, r.attempt))
            .collect();
            for (id, r) in rs {
                attempts.push((DeliveryId(id), Attempt::try_from(r)?));
            }
        }

        let link: Option<LinkRow> = sqlx::query_as(concat!(
            "SELECT ",
            link_cols!(),
            " FROM links WHERE ticket = $1"
        ))
        .bind(ticket.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let remote_state: Option<sqlx::types::Json<RemoteState>> =
            sqlx::query_scalar("SELECT state FROM remote_state WHERE ticket = $1")
                .bind(ticket.as_str())
                .fetch_optional(&self.pool)
                .await?;
        let os: Vec<ObservationRow> = sqlx::query_as(concat!(
            "SELECT ",
            observation_cols!(),
            " FROM observations WHERE ticket = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(ticket.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut observations: Vec<Observation> = rows(os)?;
        observations.reverse();
        let mut numbers: Vec<String> = events
            .iter()
            .filter_map(|e| e.ticket_number.clone())
            .collect();
        numbers.sort();
        numbers.dedup();

        Ok(TicketHistory {
            events,
            events_truncated,
            deliveries,
            attempts,
            link: link.map(Link::try_from).transpose()?,
            remote_state: remote_state.map(|s| s.0),
            observations,
            numbers,
        })
    }
}

/// An attempt row with the delivery it belongs to.
#[derive(sqlx::FromRow)]
struct AttemptWithId {
    delivery_id: i64,
    #[sqlx(flatten)]
    attempt: AttemptRow,
}
