//! SQLite transactions that move deliveries on: finish (with link and echoes), replay, and the
//! poller's commit. Each runs on the single write connection, so there are no write races.

use sqlx::{SqliteConnection, SqlitePool};

use crate::domain::{Attempt, DeliveryId, DeliveryState, NewDelivery, RemoteState, TicketKey};
use crate::store::codec::{self, ms};
use crate::store::{Finish, NewLink, StoreError, StoreResult};

/// Moves the head flag of `ticket` to its lowest-seq pending/in-flight delivery (if any).
pub(super) async fn refresh_head(conn: &mut SqliteConnection, ticket: &str) -> StoreResult<()> {
    sqlx::query("UPDATE deliveries SET is_head = 0 WHERE ticket = ?1 AND is_head = 1")
        .bind(ticket)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE deliveries SET is_head = 1 WHERE id = (SELECT id FROM deliveries \
         WHERE ticket = ?1 AND state IN ('pending', 'in_flight') ORDER BY seq LIMIT 1)",
    )
    .bind(ticket)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn finish(
    pool: &SqlitePool,
    id: DeliveryId,
    owner: &str,
    attempt: &Attempt,
    finish: Finish,
) -> StoreResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let row: Option<(String, Option<String>, String, String)> =
        sqlx::query_as("SELECT state, lease_owner, tenant, ticket FROM deliveries WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((state, lease_owner, tenant, ticket)) = row else {
        return Err(StoreError::NotFound(format!("delivery {id}")));
    };
    if state != DeliveryState::InFlight.as_str() || lease_owner.as_deref() != Some(owner) {
        return Err(StoreError::LeaseLost(format!("delivery {id}")));
    }
    if !matches!(finish, Finish::Defer { .. }) {
        insert_attempt(&mut tx, id, attempt).await?;
    }
    let at = ms(attempt.at);
    let last_error = codec::describe(attempt);
    match finish {
        Finish::Done {
            link,
            echoes,
            echo_until,
        } => {
            sqlx::query(
                "UPDATE deliveries SET state = 'done', attempts = attempts + 1, is_head = 0, \
                 lease_owner = NULL, lease_until = NULL, last_error = NULL, finished_at = ? \
                 WHERE id = ?",
            )
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            if let Some(link) = link {
                insert_link(
                    &mut tx,
                    &tenant,
                    &TicketKey::from_stored(ticket.clone()),
                    &link,
                    at,
                )
                .await?;
            }
            if let Some(until) = echo_until {
                let until = ms(until);
                sqlx::query("DELETE FROM echoes WHERE expires_at <= ?")
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                for fp in &echoes {
                    sqlx::query(
                        "INSERT INTO echoes (tenant, fingerprint, expires_at) VALUES (?, ?, ?) \
                         ON CONFLICT (tenant, fingerprint) \
                         DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
                    )
                    .bind(&tenant)
                    .bind(fp)
                    .bind(until)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            refresh_head(&mut tx, &ticket).await?;
        }
        Finish::Retry { at: next } => {
            sqlx::query(
                "UPDATE deliveries SET state = 'pending', attempts = attempts + 1, \
                 next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, last_error = ? \
                 WHERE id = ?",
            )
            .bind(ms(next))
            .bind(last_error)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
        Finish::Dead => {
            sqlx::query(
                "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, is_head = 0, \
                 lease_owner = NULL, lease_until = NULL, last_error = ?, finished_at = ? \
                 WHERE id = ?",
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
                "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, \
                 lease_owner = NULL, lease_until = NULL WHERE id = ?",
            )
            .bind(ms(next))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn insert_attempt(
    conn: &mut SqliteConnection,
    id: DeliveryId,
    a: &Attempt,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO attempts (delivery_id, at, outcome, http_status, error_code, error, \
         latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.0)
    .bind(ms(a.at))
    .bind(a.outcome.as_str())
    .bind(a.http_status.map(i64::from))
    .bind(a.error_code.as_deref())
    .bind(a.error.as_deref())
    .bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the link made by a create. A ticket keeps its first link: a second create for it
/// (which the dispatcher's lookup-before-retry should prevent) is logged, not recorded.
async fn insert_link(
    conn: &mut SqliteConnection,
    tenant: &str,
    ticket: &TicketKey,
    link: &NewLink,
    at: i64,
) -> StoreResult<()> {
    let source = codec::ticket_source(ticket)?;
    let inserted = sqlx::query(
        "INSERT INTO links (ticket, tenant, source, api, orange_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(ticket.as_str())
    .bind(tenant)
    .bind(source.as_str())
    .bind(link.api.as_str())
    .bind(&link.orange_id)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        tracing::warn!(tenant, ticket.id = %ticket, orange.api = link.api.as_str(), orange.id = %link.orange_id, "link not recorded: ticket or Orange object already linked");
    }
    Ok(())
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
    refresh_head(&mut tx, &ticket).await?;
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
