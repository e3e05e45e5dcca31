//! SQLite transactions that move deliveries on: replay (of a dead letter or a parked event)
//! and the poller's commit. Each runs on the single write connection, so there are no write
//! races. (Outcomes of attempts and claims ride in the writer's batch: `finish.rs`, `claim.rs`.)

use sqlx::SqlitePool;

use crate::domain::{DeliveryId, EventId, RemoteState, TicketKey};
use crate::store::codec::{self, PreparedDelivery, PreparedDisposition};
use crate::store::{StoreError, StoreResult};

pub(super) async fn replay(
    pool: &SqlitePool,
    id: DeliveryId,
    target: Option<String>,
    now: i64,
) -> StoreResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let ticket: Option<String> = sqlx::query_scalar(
        "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, \
         finished_at = NULL, waiting_link = NULL, target = COALESCE(?, target) \
         WHERE id = ? AND state = 'dead' RETURNING ticket",
    )
    .bind(now)
    .bind(target)
    .bind(id.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(ticket) = ticket else {
        return Ok(false);
    };
    super::finish::refresh_heads(&mut tx, &[ticket.as_str()]).await?;
    tx.commit().await?;
    Ok(true)
}

/// A replayed parked event: its new disposition and deliveries, only while it is parked. The
/// deliveries take the event's place in their tickets' queues: before the waiting deliveries
/// of events accepted after it.
pub(super) async fn settle_parked(
    pool: &SqlitePool,
    id: EventId,
    event_type: &str,
    d: &PreparedDisposition,
    deliveries: &[PreparedDelivery],
    now: i64,
) -> StoreResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let tenant: Option<String> = sqlx::query_scalar(
        "UPDATE events SET event_type = ?, skipped = ?, unrouted = ?, parked = ?, \
         parked_detail = ?, parked_rule = ?, parked_pointer = ? \
         WHERE id = ? AND parked IS NOT NULL RETURNING tenant",
    )
    .bind(event_type)
    .bind(d.skipped.as_deref())
    .bind(d.unrouted)
    .bind(d.parked)
    .bind(d.parked_detail.as_deref())
    .bind(d.parked_rule.as_deref())
    .bind(d.parked_pointer.as_deref())
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(tenant) = tenant else {
        return Ok(false);
    };
    let event = id.to_string();
    let mut tickets: Vec<&str> = Vec::new();
    for d in deliveries {
        if !tickets.contains(&d.ticket.as_str()) {
            tickets.push(&d.ticket);
        }
    }
    for ticket in &tickets {
        let mine: Vec<&PreparedDelivery> =
            deliveries.iter().filter(|d| d.ticket == *ticket).collect();
        // The first delivery still waiting that an event accepted after this one planned:
        // the replayed calls go before it (a create parked, then its updates accepted, must
        // reach Orange create first). None: they go at the tail.
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(seq) FROM deliveries WHERE ticket = ? AND state = 'pending' \
             AND event_id > ?",
        )
        .bind(*ticket)
        .bind(&event)
        .fetch_one(&mut *tx)
        .await?;
        let Some(at) = at else {
            for d in mine {
                super::ingest::append(&mut tx, &tenant, Some(&event), d, now).await?;
            }
            continue;
        };
        let n = i64::try_from(mine.len()).unwrap_or(i64::MAX);
        // Two steps through negative numbers: `(ticket, seq)` is unique at every row.
        sqlx::query("UPDATE deliveries SET seq = -(seq + ?) WHERE ticket = ? AND seq >= ?")
            .bind(n)
            .bind(*ticket)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE deliveries SET seq = -seq WHERE ticket = ? AND seq < 0")
            .bind(*ticket)
            .execute(&mut *tx)
            .await?;
        for (i, d) in (0_i64..).zip(mine) {
            sqlx::query(
                "INSERT INTO deliveries (tenant, event_id, ticket, seq, target, state, is_head, \
                 attempts, next_attempt_at, created_at) \
                 VALUES (?, ?, ?, ?, ?, 'pending', 0, 0, ?, ?)",
            )
            .bind(&tenant)
            .bind(&event)
            .bind(*ticket)
            .bind(at + i)
            .bind(&d.target)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        super::finish::refresh_heads(&mut tx, &[ticket]).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The poller's commit: lease check, write-backs, remote states and watermark, atomically.
/// The first argument is the lease's name, its owner and the tenant polled.
pub(super) async fn commit_poll(
    pool: &SqlitePool,
    (name, owner, tenant): (&str, &str, &str),
    watermark: Option<&str>,
    states: Vec<(TicketKey, RemoteState)>,
    prepared: &[PreparedDelivery],
    now: i64,
) -> StoreResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let holder: Option<String> = sqlx::query_scalar("SELECT owner FROM leases WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
    if holder.as_deref() != Some(owner) {
        return Err(StoreError::LeaseLost(format!("lease {name}")));
    }
    for d in prepared {
        super::ingest::append(&mut tx, tenant, None, d, now).await?;
    }
    for (ticket, state) in &states {
        let json = serde_json::to_string(state)
            .map_err(|e| StoreError::Corrupt(format!("remote state: {e}")))?;
        let prior: Option<sqlx::types::Json<RemoteState>> =
            sqlx::query_scalar("SELECT state FROM remote_state WHERE ticket = ?")
                .bind(ticket.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        for change in codec::observed(prior.as_ref().map(|p| &p.0), state)? {
            sqlx::query("INSERT INTO observations (ticket, at, change) VALUES (?, ?, ?)")
                .bind(ticket.as_str())
                .bind(now)
                .bind(change)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO remote_state (ticket, state) VALUES (?, ?) \
             ON CONFLICT (ticket) DO UPDATE SET state = excluded.state",
        )
        .bind(ticket.as_str())
        .bind(json)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(w) = watermark {
        sqlx::query(
            "INSERT INTO watermarks (name, value) VALUES (?, ?) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(w)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
