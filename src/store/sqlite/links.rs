//! SQLite's steps of a link recorded by hand (the rest is written once, in `shared`), and the
//! poller's marks of the linked objects it read.

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::TicketKey;
use crate::store::StoreResult;

/// Nothing to lock before a link by hand is added: the write transaction (`BEGIN
/// IMMEDIATE`) holds the whole database.
pub(super) async fn lock_ticket(_conn: &mut SqliteConnection, _ticket: &str) -> StoreResult<()> {
    Ok(())
}

/// Makes the deliveries of `ticket` waiting for its link due at `at`; how many.
pub(super) async fn wake_waiting(
    conn: &mut SqliteConnection,
    ticket: &str,
    at: i64,
) -> StoreResult<u64> {
    super::finish::wake_waiting(conn, &[(ticket, at)]).await
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
