//! PostgreSQL transactions: appends (per-ticket order across replicas), replay of a dead
//! letter, and PostgreSQL's steps of the replay of a parked event and of the poller's
//! commit (both written once, in `shared`). Ingest, batched, is in [`super::writer`]; outcomes
//! and claims, batched, in [`super::outcomes`].
//!
//! Locking order, everywhere: the `tickets` row first, then delivery rows. Appends lock the
//! ticket to take the next `seq`; outcomes and replay lock it before moving the head flag, so a
//! head change and an append of the same ticket never interleave. Claims lock delivery rows
//! only, with `SKIP LOCKED`, and never wait on a ticket.

use sqlx::{PgConnection, PgPool};

use crate::domain::DeliveryId;
use crate::store::StoreResult;
use crate::store::codec::PreparedDelivery;

/// Appends deliveries of no event (write-backs, enqueued calls) at the tail of their
/// tickets' queues. Deliveries are taken ticket by ticket in key order (stable, so each
/// ticket keeps its own order), so two transactions appending to the same tickets lock them
/// in the same order and cannot deadlock.
pub(super) async fn append_all(
    conn: &mut PgConnection,
    tenant: &str,
    deliveries: &[PreparedDelivery],
    due: i64,
) -> StoreResult<()> {
    let mut order: Vec<&PreparedDelivery> = deliveries.iter().collect();
    order.sort_by(|a, b| a.ticket.cmp(&b.ticket));
    for d in order {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO tickets (ticket, next_seq) VALUES ($1, 1) \
             ON CONFLICT (ticket) DO UPDATE SET next_seq = tickets.next_seq + 1 \
             RETURNING next_seq",
        )
        .bind(&d.ticket)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query(
            "WITH d AS (INSERT INTO deliveries (tenant, event_id, ticket, seq, state, is_head, \
             attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', NOT EXISTS (SELECT 1 FROM deliveries \
             WHERE ticket = $3 AND state IN ('pending', 'in_flight')), 0, $6, $6) RETURNING id) \
             INSERT INTO delivery_calls (delivery_id, target) SELECT id, $5::jsonb FROM d",
        )
        .bind(tenant)
        .bind(None::<&str>)
        .bind(&d.ticket)
        .bind(seq)
        .bind(&d.target)
        .bind(due)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Locks the ticket of delivery `id` (see the module's locking order); `None` when the
/// delivery does not exist.
async fn lock_ticket_of(conn: &mut PgConnection, id: DeliveryId) -> StoreResult<Option<String>> {
    let ticket: Option<String> = sqlx::query_scalar("SELECT ticket FROM deliveries WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(t) = &ticket {
        sqlx::query("SELECT 1 FROM tickets WHERE ticket = $1 FOR UPDATE")
            .bind(t)
            .execute(&mut *conn)
            .await?;
    }
    Ok(ticket)
}

/// Moves the head flag of `ticket` to its lowest-seq pending/in-flight delivery (if any).
/// The caller holds the ticket's lock.
pub(super) async fn refresh_head(conn: &mut PgConnection, ticket: &str) -> StoreResult<()> {
    refresh_heads(conn, &[ticket]).await
}

/// [`refresh_head`] of each of `tickets` (the caller holds their locks).
pub(super) async fn refresh_heads(conn: &mut PgConnection, tickets: &[&str]) -> StoreResult<()> {
    if tickets.is_empty() {
        return Ok(());
    }
    // One statement: the head flag moves to each ticket's first live delivery and off any
    // other.
    sqlx::query(
        "WITH h AS (SELECT DISTINCT ON (ticket) id FROM deliveries \
           WHERE ticket = ANY($1) AND state IN ('pending', 'in_flight') ORDER BY ticket, seq), \
         c AS (SELECT id FROM h UNION SELECT id FROM deliveries WHERE ticket = ANY($1) AND is_head) \
         UPDATE deliveries d SET is_head = (d.id IN (SELECT id FROM h)) FROM c \
         WHERE d.id = c.id AND d.is_head <> (d.id IN (SELECT id FROM h))",
    )
    .bind(tickets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Makes the deliveries of `ticket` that wait for a link due at `at`: its link was just
/// recorded. The caller holds the ticket's lock. Returns how many.
pub(super) async fn wake_waiting(
    conn: &mut PgConnection,
    ticket: &str,
    at: i64,
) -> StoreResult<u64> {
    Ok(sqlx::query(
        "UPDATE deliveries SET waiting_link = NULL, next_attempt_at = LEAST(next_attempt_at, $2) \
         WHERE ticket = $1 AND waiting_link IS NOT NULL AND state = 'pending'",
    )
    .bind(ticket)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

pub(super) async fn replay(
    pool: &PgPool,
    id: DeliveryId,
    target: Option<String>,
    now: i64,
) -> StoreResult<bool> {
    let mut tx = pool.begin().await?;
    let Some(ticket) = lock_ticket_of(&mut tx, id).await? else {
        return Ok(false);
    };
    let n = sqlx::query(
        "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, \
         finished_at = NULL, waiting_link = NULL WHERE id = $2 AND state = 'dead'",
    )
    .bind(now)
    .bind(id.0)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    if let Some(target) = target {
        sqlx::query("UPDATE delivery_calls SET target = $1::jsonb WHERE delivery_id = $2")
            .bind(target)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
    }
    refresh_head(&mut tx, &ticket).await?;
    tx.commit().await?;
    Ok(true)
}

/// Locks `ticket` (see the module's locking order) and takes `n` more seqs at its tail:
/// the first of them. The tail moves whether or not the caller inserts in the middle.
pub(super) async fn reserve_tail(
    conn: &mut PgConnection,
    ticket: &str,
    n: i64,
) -> StoreResult<i64> {
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (ticket, next_seq) VALUES ($1, $2) \
         ON CONFLICT (ticket) DO UPDATE SET next_seq = tickets.next_seq + $2 \
         RETURNING next_seq",
    )
    .bind(ticket)
    .bind(n)
    .fetch_one(&mut *conn)
    .await?;
    Ok(next - n + 1)
}
