//! Links recorded by hand, and the poller's marks of the linked objects it read, on
//! PostgreSQL.

use sqlx::PgPool;

use crate::domain::{Link, TicketKey, Timestamp};
use crate::store::codec::{LinkRow, link_cols, ms};
use crate::store::{LinkAdded, ManualLink, StoreResult};

/// Records `link` unless the ticket or the Orange object is linked already, and makes the
/// ticket's waiting deliveries due at `now`. The ticket's row is locked first (the locking
/// order of `ops`), so a create finishing at the same moment is serialised with it.
pub(super) async fn add(
    pool: &PgPool,
    link: &ManualLink,
    now: Timestamp,
) -> StoreResult<LinkAdded> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO tickets (ticket, next_seq) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(link.ticket.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT 1 FROM tickets WHERE ticket = $1 FOR UPDATE")
        .bind(link.ticket.as_str())
        .execute(&mut *tx)
        .await?;
    let source = crate::store::codec::ticket_source(&link.ticket)?;
    let inserted = sqlx::query(
        "INSERT INTO links (ticket, tenant, source, api, orange_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(link.ticket.as_str())
    .bind(link.tenant.as_str())
    .bind(source.as_str())
    .bind(link.api.as_str())
    .bind(&link.orange_id)
    .bind(ms(now))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        let row: LinkRow = sqlx::query_as(concat!(
            "SELECT ",
            link_cols!(),
            " FROM links WHERE ticket = $1 OR (tenant = $2 AND api = $3 AND orange_id = $4) \
             ORDER BY ticket = $1 DESC LIMIT 1"
        ))
        .bind(link.ticket.as_str())
        .bind(link.tenant.as_str())
        .bind(link.api.as_str())
        .bind(&link.orange_id)
        .fetch_one(&mut *tx)
        .await?;
        let l = Link::try_from(row)?;
        return Ok(
            if l.ticket == link.ticket && l.api == link.api && l.orange_id == link.orange_id {
                LinkAdded::Unchanged
            } else {
                LinkAdded::Conflict(l)
            },
        );
    }
    let woken = super::ops::wake_waiting(&mut tx, link.ticket.as_str(), ms(now)).await?;
    tx.commit().await?;
    Ok(LinkAdded::Added { woken })
}

/// Records when the poller read these linked objects and whether each is final, in one
/// statement.
pub(super) async fn mark_checked(
    pool: &PgPool,
    checks: Vec<(TicketKey, bool)>,
    at: i64,
) -> StoreResult<()> {
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
    .bind(at)
    .bind(&done)
    .execute(pool)
    .await?;
    Ok(())
}
