//! PostgreSQL transactions: appends (per-ticket order across replicas), finish, replay of a
//! dead letter, and PostgreSQL's steps of the replay of a parked event and of the poller's
//! commit (both written once, in `shared`). Ingest, batched, is in [`super::writer`].
//!
//! Locking order, everywhere: the `tickets` row first, then delivery rows. Appends lock the
//! ticket to take the next `seq`; finish and replay lock it before moving the head flag, so a
//! head change and an append of the same ticket never interleave. Claims lock delivery rows
//! only, with `SKIP LOCKED`, and never wait on a ticket.

use sqlx::{PgConnection, PgPool};

use crate::domain::{Attempt, DeliveryId, DeliveryState, TicketKey};
use crate::store::codec::{self, PreparedDelivery, ms};
use crate::store::{Finish, NewLink, StoreError, StoreResult, text};

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
            "INSERT INTO deliveries (tenant, event_id, ticket, seq, target, state, is_head, \
             attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5::jsonb, 'pending', NOT EXISTS (SELECT 1 FROM deliveries \
             WHERE ticket = $3 AND state IN ('pending', 'in_flight')), 0, $6, $6)",
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
    sqlx::query("UPDATE deliveries SET is_head = FALSE WHERE ticket = $1 AND is_head")
        .bind(ticket)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE deliveries SET is_head = TRUE WHERE id = (SELECT id FROM deliveries \
         WHERE ticket = $1 AND state IN ('pending', 'in_flight') ORDER BY seq LIMIT 1)",
    )
    .bind(ticket)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn finish(
    pool: &PgPool,
    id: DeliveryId,
    owner: &str,
    attempt: &Attempt,
    finish: Finish,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let Some(ticket) = lock_ticket_of(&mut tx, id).await? else {
        return Err(StoreError::NotFound(format!("delivery {id}")));
    };
    let (state, lease_owner, tenant): (String, Option<String>, String) = sqlx::query_as(
        "SELECT state, lease_owner, tenant FROM deliveries WHERE id = $1 FOR UPDATE",
    )
    .bind(id.0)
    .fetch_one(&mut *tx)
    .await?;
    if state != DeliveryState::InFlight.as_str() || lease_owner.as_deref() != Some(owner) {
        return Err(StoreError::LeaseLost(format!("delivery {id}")));
    }
    if !matches!(finish, Finish::Defer { .. } | Finish::WaitLink { .. }) {
        sqlx::query(
            "INSERT INTO attempts (delivery_id, at, outcome, http_status, error_code, error, \
             latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.0)
        .bind(ms(attempt.at))
        .bind(attempt.outcome.as_str())
        .bind(attempt.http_status.map(i64::from))
        .bind(attempt.error_code.as_deref().map(text::strip_nul_ref))
        .bind(attempt.error.as_deref().map(text::strip_nul_ref))
        .bind(i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    }
    let at = ms(attempt.at);
    // Orange's and the ITSMs' error texts are stored as they came, less what TEXT refuses.
    let last_error = codec::describe(attempt).map(text::strip_nul);
    match finish {
        Finish::Done {
            link,
            echoes,
            echo_until,
        } => {
            sqlx::query(
                "UPDATE deliveries SET state = 'done', attempts = attempts + 1, is_head = FALSE, \
                 lease_owner = NULL, lease_until = NULL, last_error = NULL, finished_at = $1, \
                 waiting_link = NULL WHERE id = $2",
            )
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            if let Some(link) = link
                && insert_link(
                    &mut tx,
                    &tenant,
                    &TicketKey::from_stored(ticket.clone()),
                    &link,
                    at,
                )
                .await?
            {
                wake_waiting(&mut tx, &ticket, at).await?;
            }
            if let Some(until) = echo_until {
                insert_echoes(&mut tx, &tenant, &echoes, at, ms(until)).await?;
            }
            refresh_head(&mut tx, &ticket).await?;
        }
        Finish::Retry { at: next } => {
            sqlx::query(
                "UPDATE deliveries SET state = 'pending', attempts = attempts + 1, \
                 next_attempt_at = $1, lease_owner = NULL, lease_until = NULL, last_error = $2, \
                 waiting_link = NULL WHERE id = $3",
            )
            .bind(ms(next))
            .bind(last_error)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
        Finish::Dead => {
            sqlx::query(
                "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, is_head = FALSE, \
                 lease_owner = NULL, lease_until = NULL, last_error = $1, finished_at = $2, \
                 waiting_link = NULL WHERE id = $3",
            )
            .bind(last_error)
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            refresh_head(&mut tx, &ticket).await?;
        }
        Finish::Defer { at: next } => {
            sqlx::query(
                "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, \
                 lease_owner = NULL, lease_until = NULL WHERE id = $2",
            )
            .bind(ms(next))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
        Finish::WaitLink { until, reason } => {
            sqlx::query(
                "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, \
                 lease_owner = NULL, lease_until = NULL, waiting_link = $2 WHERE id = $3",
            )
            .bind(ms(until))
            .bind(reason)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
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

/// A ticket keeps its first link; a conflicting second one is logged, not recorded. True
/// when it was recorded.
async fn insert_link(
    conn: &mut PgConnection,
    tenant: &str,
    ticket: &TicketKey,
    link: &NewLink,
    at: i64,
) -> StoreResult<bool> {
    let source = codec::ticket_source(ticket)?;
    let inserted = sqlx::query(
        "INSERT INTO links (ticket, tenant, source, api, orange_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(ticket.as_str())
    .bind(tenant)
    .bind(source.as_str())
    .bind(link.api.as_str())
    .bind(text::strip_nul_ref(&link.orange_id))
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        tracing::warn!(tenant, ticket.id = %ticket, orange.api = link.api.as_str(), orange.id = %link.orange_id, "link not recorded: ticket or Orange object already linked");
    }
    Ok(inserted > 0)
}

async fn insert_echoes(
    conn: &mut PgConnection,
    tenant: &str,
    echoes: &[String],
    now: i64,
    until: i64,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM echoes WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    for fp in echoes {
        sqlx::query(
            "INSERT INTO echoes (tenant, fingerprint, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, fingerprint) \
             DO UPDATE SET expires_at = GREATEST(echoes.expires_at, EXCLUDED.expires_at)",
        )
        .bind(tenant)
        .bind(fp)
        .bind(until)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
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
         finished_at = NULL, waiting_link = NULL, target = COALESCE($2::jsonb, target) \
         WHERE id = $3 AND state = 'dead'",
    )
    .bind(now)
    .bind(target)
    .bind(id.0)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(false);
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
