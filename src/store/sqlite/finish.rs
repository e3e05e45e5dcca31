//! Recording delivery outcomes, a whole group-commit batch at a time.
//!
//! Every statement on a sqlx SQLite connection is a round trip to the connection's own thread,
//! and at thousands of deliveries a second those thread switches, not SQLite, were the cost.
//! So a batch of outcomes is written with a fixed number of set-based statements whatever
//! its size: one read of the deliveries' lease holders, one `INSERT` of the attempts, one
//! `UPDATE … FROM json_each(…)` of the deliveries, two to move the head flags of the tickets
//! whose delivery became final, and one `INSERT` of the links made by creates.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::jobs::FinishJob;
use crate::domain::{DeliveryState, TicketKey};
use crate::store::codec::{self, ms};
use crate::store::{Finish, StoreError, StoreResult};

/// Rows per multi-row `INSERT` (7 parameters a row, under SQLite's 32766).
const ROWS_PER_INSERT: usize = 1000;

/// Records every outcome of `jobs` in the open transaction; one result per job, in order.
///
/// A job is refused alone (`NotFound`, or `LeaseLost` when its worker no longer holds the
/// lease — also the second outcome of one delivery within a batch) and writes nothing; the
/// outer `Err` is a database failure, and the writer rolls the whole batch back.
pub(super) async fn finish_batch(
    conn: &mut SqliteConnection,
    jobs: &[&FinishJob],
) -> StoreResult<Vec<StoreResult<()>>> {
    let holders = lease_holders(conn, jobs).await?;
    let mut results = Vec::with_capacity(jobs.len());
    let mut accepted: Vec<(&FinishJob, &Holder)> = Vec::with_capacity(jobs.len());
    let mut seen = HashSet::with_capacity(jobs.len());
    for job in jobs {
        let id = job.id;
        results.push(match holders.get(&id.0) {
            None => Err(StoreError::NotFound(format!("delivery {id}"))),
            Some(h)
                if h.state != DeliveryState::InFlight.as_str()
                    || h.owner.as_deref() != Some(job.owner.as_str())
                    || !seen.insert(id.0) =>
            {
                Err(StoreError::LeaseLost(format!("delivery {id}")))
            }
            Some(h) => {
                accepted.push((job, h));
                Ok(())
            }
        });
    }
    if accepted.is_empty() {
        return Ok(results);
    }
    insert_attempts(conn, &accepted).await?;
    update_deliveries(conn, &accepted).await?;
    insert_links(conn, &accepted).await?;
    remember_echoes(conn, &accepted).await?;
    let finals: Vec<&str> = accepted
        .iter()
        .filter(|(j, _)| matches!(j.finish, Finish::Done { .. } | Finish::Dead))
        .map(|(_, h)| h.ticket.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    refresh_heads(conn, &finals).await?;
    Ok(results)
}

/// Who holds a delivery, read before anything is written.
struct Holder {
    state: String,
    owner: Option<String>,
    tenant: String,
    ticket: String,
}

async fn lease_holders(
    conn: &mut SqliteConnection,
    jobs: &[&FinishJob],
) -> StoreResult<HashMap<i64, Holder>> {
    let ids: Vec<i64> = jobs.iter().map(|j| j.id.0).collect();
    let rows: Vec<(i64, String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT id, state, lease_owner, tenant, ticket FROM deliveries \
         WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(json!(ids).to_string())
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, state, owner, tenant, ticket)| {
            (
                id,
                Holder {
                    state,
                    owner,
                    tenant,
                    ticket,
                },
            )
        })
        .collect())
}

async fn insert_attempts(
    conn: &mut SqliteConnection,
    accepted: &[(&FinishJob, &Holder)],
) -> StoreResult<()> {
    // A deferral (or a wait for a link) is not an attempt. One statement text whatever the batch size, so it is
    // prepared once per connection (a multi-row VALUES list is a new statement per size).
    let rows: Vec<serde_json::Value> = accepted
        .iter()
        .map(|(j, _)| *j)
        .filter(|j| !matches!(j.finish, Finish::Defer { .. } | Finish::WaitLink { .. }))
        .map(|j| {
            let a = &j.attempt;
            json!({
                "d": j.id.0, "at": ms(a.at), "o": a.outcome.as_str(), "h": a.http_status,
                "c": a.error_code, "e": a.error,
                "l": i64::try_from(a.latency_ms).unwrap_or(i64::MAX),
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO attempts (delivery_id, at, outcome, http_status, error_code, error, \
         latency_ms) SELECT j.value ->> 'd', j.value ->> 'at', j.value ->> 'o', \
         j.value ->> 'h', j.value ->> 'c', j.value ->> 'e', j.value ->> 'l' FROM json_each(?) j",
    )
    .bind(serde_json::Value::Array(rows).to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One row of the deliveries update: the new state and which columns move.
fn update_row(j: &FinishJob) -> serde_json::Value {
    let at = ms(j.attempt.at);
    let error = codec::describe(&j.attempt);
    // s: state, n: attempts added, next: next_attempt_at, e: last_error (k = 1 keeps the
    // old one), f: finished_at (set only when final, which also drops the head flag),
    // w: why it waits for a link (kw = 1 keeps the old reason; otherwise it is cleared).
    match &j.finish {
        Finish::Done { .. } => json!({"id": j.id.0, "s": "done", "n": 1, "f": at, "k": 0}),
        Finish::Retry { at: next } => {
            json!({"id": j.id.0, "s": "pending", "n": 1, "next": ms(*next), "e": error, "k": 0})
        }
        Finish::Dead => json!({"id": j.id.0, "s": "dead", "n": 1, "e": error, "f": at, "k": 0}),
        Finish::Defer { at: next } => {
            json!({"id": j.id.0, "s": "pending", "n": 0, "next": ms(*next), "k": 1, "kw": 1})
        }
        Finish::WaitLink { until, reason } => {
            json!({"id": j.id.0, "s": "pending", "n": 0, "next": ms(*until), "k": 1, "w": reason})
        }
    }
}

async fn update_deliveries(
    conn: &mut SqliteConnection,
    accepted: &[(&FinishJob, &Holder)],
) -> StoreResult<()> {
    let rows: Vec<serde_json::Value> = accepted.iter().map(|(j, _)| update_row(j)).collect();
    sqlx::query(
        "UPDATE deliveries SET state = j.value ->> 's', attempts = attempts + (j.value ->> 'n'), \
         next_attempt_at = COALESCE(j.value ->> 'next', next_attempt_at), \
         lease_owner = NULL, lease_until = NULL, \
         last_error = CASE j.value ->> 'k' WHEN 1 THEN last_error ELSE j.value ->> 'e' END, \
         finished_at = COALESCE(j.value ->> 'f', finished_at), \
         is_head = CASE WHEN j.value ->> 'f' IS NULL THEN is_head ELSE 0 END, \
         waiting_link = CASE WHEN j.value ->> 'w' IS NOT NULL THEN j.value ->> 'w' \
           WHEN j.value ->> 'kw' = 1 THEN waiting_link END \
         FROM json_each(?) AS j WHERE deliveries.id = j.value ->> 'id'",
    )
    .bind(serde_json::Value::Array(rows).to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the links made by creates. A ticket keeps its first link: a second create for it
/// (which the dispatcher's lookup-before-retry should prevent) is logged, not recorded.
async fn insert_links(
    conn: &mut SqliteConnection,
    accepted: &[(&FinishJob, &Holder)],
) -> StoreResult<()> {
    let mut links = Vec::new();
    for (j, h) in accepted {
        if let Finish::Done {
            link: Some(link), ..
        } = &j.finish
        {
            let ticket = TicketKey::from_stored(h.ticket.clone());
            let source = codec::ticket_source(&ticket)?;
            links.push((h, source, link, ms(j.attempt.at)));
        }
    }
    for chunk in links.chunks(ROWS_PER_INSERT) {
        let mut b = QueryBuilder::<Sqlite>::new(
            "INSERT INTO links (ticket, tenant, source, api, orange_id, created_at) ",
        );
        b.push_values(chunk, |mut row, (h, source, link, at)| {
            row.push_bind(h.ticket.as_str())
                .push_bind(h.tenant.as_str())
                .push_bind(source.as_str())
                .push_bind(link.api.as_str())
                .push_bind(link.orange_id.as_str())
                .push_bind(*at);
        });
        b.push(" ON CONFLICT DO NOTHING RETURNING ticket");
        let recorded: HashSet<String> = b
            .build_query_scalar::<String>()
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        let woken: Vec<(&str, i64)> = chunk
            .iter()
            .filter(|(h, ..)| recorded.contains(&h.ticket))
            .map(|(h, _, _, at)| (h.ticket.as_str(), *at))
            .collect();
        wake_waiting(conn, &woken).await?;
        for (h, _, link, _) in chunk {
            if !recorded.contains(&h.ticket) {
                tracing::warn!(tenant = %h.tenant, ticket.id = %h.ticket, orange.api = link.api.as_str(),
                    orange.id = %link.orange_id, "link not recorded: ticket or Orange object already linked");
            }
        }
    }
    Ok(())
}

/// Makes the deliveries of `tickets` that wait for a link due at the paired instant: their
/// link was just recorded. Returns how many.
pub(super) async fn wake_waiting(
    conn: &mut SqliteConnection,
    tickets: &[(&str, i64)],
) -> StoreResult<u64> {
    if tickets.is_empty() {
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = tickets.iter().map(|(t, at)| json!([t, at])).collect();
    let n = sqlx::query(
        "UPDATE deliveries SET waiting_link = NULL, \
         next_attempt_at = MIN(next_attempt_at, j.value ->> 1) \
         FROM json_each(?) AS j WHERE deliveries.ticket = j.value ->> 0 \
         AND deliveries.waiting_link IS NOT NULL AND deliveries.state = 'pending'",
    )
    .bind(serde_json::Value::Array(rows).to_string())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n)
}

/// Keeps the fingerprints of ITSM write-backs until their `echo_until`, so the webhooks they
/// trigger are recognised as echoes.
async fn remember_echoes(
    conn: &mut SqliteConnection,
    accepted: &[(&FinishJob, &Holder)],
) -> StoreResult<()> {
    let mut pruned = false;
    for (j, h) in accepted {
        let Finish::Done {
            echoes,
            echo_until: Some(until),
            ..
        } = &j.finish
        else {
            continue;
        };
        if !pruned {
            sqlx::query("DELETE FROM echoes WHERE expires_at <= ?")
                .bind(ms(j.attempt.at))
                .execute(&mut *conn)
                .await?;
            pruned = true;
        }
        for fp in echoes {
            sqlx::query(
                "INSERT INTO echoes (tenant, fingerprint, expires_at) VALUES (?, ?, ?) \
                 ON CONFLICT (tenant, fingerprint) \
                 DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
            )
            .bind(&h.tenant)
            .bind(fp)
            .bind(ms(*until))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Moves the head flag of each ticket to its lowest-seq pending/in-flight delivery (if any).
pub(super) async fn refresh_heads(
    conn: &mut SqliteConnection,
    tickets: &[&str],
) -> StoreResult<()> {
    if tickets.is_empty() {
        return Ok(());
    }
    let tickets = json!(tickets).to_string();
    sqlx::query(
        "UPDATE deliveries SET is_head = 0 \
         WHERE is_head = 1 AND ticket IN (SELECT value FROM json_each(?))",
    )
    .bind(&tickets)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE deliveries SET is_head = 1 WHERE id IN (SELECT (SELECT id FROM deliveries d \
         WHERE d.ticket = t.value AND d.state IN ('pending', 'in_flight') ORDER BY seq LIMIT 1) \
         FROM json_each(?) t)",
    )
    .bind(&tickets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
