//! SQLite transactions that move deliveries on outside the group commit: replay, and the
//! poller's commit. Each runs on the single write connection, so there are no write races.
//! (Outcomes of attempts are recorded by the writer: `finish.rs`.)

use sqlx::SqlitePool;

use crate::domain::{DeliveryId, NewDelivery, RemoteState, TicketKey};
use crate::store::codec;
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
         finished_at = NULL, target = COALESCE(?, target) WHERE id = ? AND state = 'dead' \
         RETURNING ticket",
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

/// The poller's commit: lease check, write-backs, remote states and watermark, atomically.
#[expect(clippy::too_many_arguments, reason = "mirrors Store::commit_poll")]
pub(super) async fn commit_poll(
    pool: &SqlitePool,
    name: &str,
    owner: &str,
    tenant: &str,
    watermark: Option<&str>,
    states: Vec<(TicketKey, RemoteState)>,
    deliveries: Vec<NewDelivery>,
    now: i64,
) -> StoreResult<()> {
    let prepared = codec::prepare_deliveries(&deliveries)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let holder: Option<String> = sqlx::query_scalar("SELECT owner FROM leases WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
    if holder.as_deref() != Some(owner) {
        return Err(StoreError::LeaseLost(format!("lease {name}")));
    }
    for d in &prepared {
        super::writer::append(&mut tx, tenant, None, d, now).await?;
    }
    for (ticket, state) in &states {
        let json = serde_json::to_string(state)
            .map_err(|e| StoreError::Corrupt(format!("remote state: {e}")))?;
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
