//! Recording delivery outcomes, a whole group-commit batch at a time.
//!
//! Every statement on a sqlx SQLite connection is a round trip to the connection's own thread,
//! and at thousands of deliveries a second those thread switches, not SQLite, were the cost.
//! So a batch of outcomes is written with a fixed number of set-based statements whatever
//! its size: one read of the deliveries' lease holders (stepped on the writer's own thread,
//! [`super::direct`]: its rows need no hand-off either), one `INSERT` of the attempts, one
//! `UPDATE … FROM json_each(…)` of the deliveries, two to move the head flags of the tickets
//! whose delivery became final, and one `INSERT` of the links made by creates. Which outcomes
//! are refused, and the rows of those statements, are the same on PostgreSQL
//! (`store::shared::finish`).

use std::collections::{HashMap, HashSet};

use serde_json::json;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::direct::{Cache, Direct};
use super::jobs::FinishJob;
use crate::store::shared::finish::{self as rows, Holder};
use crate::store::{StoreError, StoreResult};

/// Rows per multi-row `INSERT` (6 parameters a row, under SQLite's 32766).
const ROWS_PER_INSERT: usize = 1000;

/// Records every outcome of `jobs` in the open transaction; one result per job, in order.
///
/// A job is refused alone (see [`rows::judge`]) and writes nothing; the outer `Err` is a
/// database failure, and the writer rolls the whole batch back.
pub(super) async fn finish_batch(
    conn: &mut SqliteConnection,
    cache: &Cache,
    jobs: &[&FinishJob],
) -> StoreResult<Vec<StoreResult<()>>> {
    let holders = lease_holders(conn, cache, jobs).await?;
    let (results, accepted) = rows::judge(jobs, &holders);
    if accepted.is_empty() {
        return Ok(results);
    }
    if let Some(attempts) = rows::attempt_rows(&accepted) {
        sqlx::query(
            "INSERT INTO attempts (delivery_id, at, outcome, http_status, error_code, error, \
             latency_ms) SELECT j.value ->> 'd', j.value ->> 'at', j.value ->> 'o', \
             j.value ->> 'h', j.value ->> 'c', j.value ->> 'e', j.value ->> 'l' \
             FROM json_each(?) j",
        )
        .bind(attempts)
        .execute(&mut *conn)
        .await?;
    }
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
    .bind(rows::update_rows(&accepted))
    .execute(&mut *conn)
    .await?;
    insert_links(conn, &accepted).await?;
    remember_echoes(conn, cache, &accepted).await?;
    refresh_heads(conn, &rows::finals(&accepted)).await?;
    Ok(results)
}

/// Who holds each job's delivery now, read on the writer's own thread (a row each:
/// [`super::direct`]).
async fn lease_holders(
    conn: &mut SqliteConnection,
    cache: &Cache,
    jobs: &[&FinishJob],
) -> StoreResult<HashMap<i64, Holder>> {
    let db = Direct::lock(conn).await?;
    let mut read = db.cached(
        cache,
        "SELECT id, state, lease_owner, tenant, ticket FROM deliveries \
         WHERE id IN (SELECT value FROM json_each(?1))",
    )?;
    let ids = json!(rows::ids(jobs)).to_string();
    let mut found = HashMap::with_capacity(jobs.len());
    read.for_each(&[ids.as_str().into()], |r| {
        let text = |i| {
            r.text(i)?
                .ok_or_else(|| StoreError::Corrupt(format!("column {i} of a delivery is NULL")))
        };
        let id = r
            .int(0)
            .ok_or_else(|| StoreError::Corrupt("a delivery without an id".into()))?;
        let h = Holder {
            state: text(1)?,
            owner: r.text(2)?,
            tenant: text(3)?,
            ticket: text(4)?,
        };
        found.insert(id, h);
        Ok(())
    })?;
    Ok(found)
}

/// Records the links made by creates; a ticket keeps its first link (see
/// [`rows::not_recorded`]).
async fn insert_links(
    conn: &mut SqliteConnection,
    accepted: &[(&FinishJob, &Holder)],
) -> StoreResult<()> {
    let links = rows::made_links(accepted)?;
    for chunk in links.chunks(ROWS_PER_INSERT) {
        let mut b = QueryBuilder::<Sqlite>::new(
            "INSERT INTO links (ticket, tenant, source, api, orange_id, created_at) ",
        );
        b.push_values(chunk, |mut row, l| {
            row.push_bind(l.holder.ticket.as_str())
                .push_bind(l.holder.tenant.as_str())
                .push_bind(l.source.as_str())
                .push_bind(l.link.api.as_str())
                .push_bind(l.orange_id.as_str())
                .push_bind(l.at);
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
            .filter(|l| recorded.contains(&l.holder.ticket))
            .map(|l| (l.holder.ticket.as_str(), l.at))
            .collect();
        wake_waiting(conn, &woken).await?;
        for l in chunk {
            if !recorded.contains(&l.holder.ticket) {
                rows::not_recorded(l);
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
    cache: &Cache,
    accepted: &[(&FinishJob, &Holder)],
) -> StoreResult<()> {
    let Some((now, echoes)) = rows::echoes(accepted) else {
        return Ok(());
    };
    sqlx::query("DELETE FROM echoes WHERE expires_at <= ?")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    // A row each, stepped on the writer's thread (not a statement through sqlx's per echo).
    let db = Direct::lock(conn).await?;
    let mut upsert = db.cached(
        cache,
        "INSERT INTO echoes (tenant, fingerprint, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant, fingerprint) \
         DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
    )?;
    for (tenant, fingerprint, until) in echoes {
        upsert.execute(&[tenant.into(), fingerprint.into(), until.into()])?;
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
