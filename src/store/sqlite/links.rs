//! Links recorded by hand, and the deliveries that wait for a link, on SQLite.

use sqlx::SqlitePool;

use crate::domain::{Delivery, Link, TenantId};
use crate::store::codec::{DeliveryRow, LinkRow, delivery_cols, link_cols, ms};
use crate::store::{LinkAdded, ManualLink, StoreResult};

/// Records `link` unless the ticket or the Orange object is linked already, and makes the
/// ticket's waiting deliveries due at `now`, in one transaction on the write connection.
pub(super) async fn add(
    pool: &SqlitePool,
    link: &ManualLink,
    now: crate::domain::Timestamp,
) -> StoreResult<LinkAdded> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let existing: Option<LinkRow> = sqlx::query_as(concat!(
        "SELECT ",
        link_cols!(),
        " FROM links WHERE ticket = ?1 OR (tenant = ?2 AND api = ?3 AND orange_id = ?4) \
         ORDER BY ticket = ?1 DESC LIMIT 1"
    ))
    .bind(link.ticket.as_str())
    .bind(link.tenant.as_str())
    .bind(link.api.as_str())
    .bind(&link.orange_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = existing {
        let l = Link::try_from(row)?;
        return Ok(
            if l.ticket == link.ticket && l.api == link.api && l.orange_id == link.orange_id {
                LinkAdded::Unchanged
            } else {
                LinkAdded::Conflict(l)
            },
        );
    }
    let source = crate::store::codec::ticket_source(&link.ticket)?;
    sqlx::query(
        "INSERT INTO links (ticket, tenant, source, api, orange_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(link.ticket.as_str())
    .bind(link.tenant.as_str())
    .bind(source.as_str())
    .bind(link.api.as_str())
    .bind(&link.orange_id)
    .bind(ms(now))
    .execute(&mut *tx)
    .await?;
    let woken = super::finish::wake_waiting(&mut tx, &[(link.ticket.as_str(), ms(now))]).await?;
    tx.commit().await?;
    Ok(LinkAdded::Added { woken })
}

/// Deliveries waiting for a link, oldest first.
pub(super) async fn waiting(
    pool: &SqlitePool,
    tenant: Option<&TenantId>,
    limit: u32,
) -> StoreResult<Vec<Delivery>> {
    let rs: Vec<DeliveryRow> = sqlx::query_as(concat!(
        "SELECT ",
        delivery_cols!(),
        " FROM deliveries INDEXED BY deliveries_waiting_link WHERE waiting_link IS NOT NULL \
         AND (?1 IS NULL OR tenant = ?1) ORDER BY created_at, id LIMIT ?2"
    ))
    .bind(tenant.map(TenantId::as_str))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rs.into_iter().map(Delivery::try_from).collect()
}
