//! Links recorded by hand, and the poller's marks of the linked objects it read, on SQLite.

use sqlx::SqlitePool;

use crate::domain::{Link, TicketKey};
use crate::store::codec::{LinkRow, link_cols, ms};
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

/// Records when the poller read these linked objects and whether each is final.
pub(super) async fn mark_checked(
    pool: &SqlitePool,
    checks: Vec<(TicketKey, bool)>,
    at: i64,
) -> StoreResult<()> {
    let mut tx = super::begin(pool).await?;
    for (ticket, done) in &checks {
        sqlx::query(
            "INSERT INTO link_checks (ticket, checked_at, done) VALUES ($1, $2, $3) \
             ON CONFLICT (ticket) DO UPDATE SET checked_at = excluded.checked_at, \
             done = excluded.done",
        )
        .bind(ticket.as_str())
        .bind(at)
        .bind(i64::from(*done))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
