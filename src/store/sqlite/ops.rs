//! SQLite's steps of the transactions that move deliveries on (the replay of a parked event
//! and the poller's commit are written once, in `shared`), and the replay of a dead letter.
//! Each runs on the single write connection, so there are no write races: a ticket's next
//! `seq` is its `MAX(seq) + 1`. (Outcomes of attempts and claims ride in the writer's batch:
//! `finish.rs`, `claim.rs`.)

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::DeliveryId;
use crate::store::StoreResult;
use crate::store::codec::PreparedDelivery;

/// Appends deliveries of no event (write-backs, enqueued calls) at the tail of their
/// tickets' queues, one by one (`ingest::append`).
pub(super) async fn append_all(
    conn: &mut SqliteConnection,
    tenant: &str,
    deliveries: &[PreparedDelivery],
    due: i64,
) -> StoreResult<()> {
    for d in deliveries {
        super::ingest::append(conn, tenant, None, d, due).await?;
    }
    Ok(())
}

/// The first of `n` seqs at the tail of `ticket`'s queue. Nothing to reserve: no other
/// writer can append meanwhile.
pub(super) async fn reserve_tail(
    conn: &mut SqliteConnection,
    ticket: &str,
    _n: i64,
) -> StoreResult<i64> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM deliveries WHERE ticket = ?")
        .bind(ticket)
        .fetch_one(&mut *conn)
        .await?;
    Ok(last.unwrap_or(0) + 1)
}

/// Moves the head flag of `ticket` to its first pending or in-flight delivery.
pub(super) async fn refresh_head(conn: &mut SqliteConnection, ticket: &str) -> StoreResult<()> {
    super::finish::refresh_heads(conn, &[ticket]).await
}

pub(super) async fn replay(
    pool: &SqlitePool,
    id: DeliveryId,
    target: Option<String>,
    now: i64,
) -> StoreResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let ticket: Option<String> = sqlx::query_scalar(
        "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, \
         finished_at = NULL, waiting_link = NULL WHERE id = ? AND state = 'dead' RETURNING ticket",
    )
    .bind(now)
    .bind(id.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(ticket) = ticket else {
        return Ok(false);
    };
    if let Some(target) = target {
        sqlx::query("UPDATE delivery_calls SET target = ? WHERE delivery_id = ?")
            .bind(target)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
    }
    super::finish::refresh_heads(&mut tx, &[ticket.as_str()]).await?;
    tx.commit().await?;
    Ok(true)
}
