//! PostgreSQL's steps of a link recorded by hand (the rest is written once, in `shared`), and
//! the poller's marks of the linked objects it read.

use sqlx::{PgConnection, PgPool};

use crate::domain::TicketKey;
use crate::store::StoreResult;

/// Locks `ticket`'s row before a link by hand is added (the locking order of `ops`), so a
/// create finishing at the same moment is serialised with it.
pub(super) async fn lock_ticket(conn: &mut PgConnection, ticket: &str) -> StoreResult<()> {
    sqlx::query("INSERT INTO tickets (ticket, next_seq) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(ticket)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT 1 FROM tickets WHERE ticket = $1 FOR UPDATE")
        .bind(ticket)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) use super::ops::wake_waiting;

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
