//! The claim, run by the writer in its batch (see `DeliveryQueue::claim_skipping`): the due
//! heads, leased in one statement pinned to the partial indexes, stepped on the writer's own
//! thread ([`super::direct`]).

use sqlx::SqliteConnection;
use sqlx::types::Json;

use super::direct::{Cache, Direct, Row};
use super::jobs::ClaimJob;
use crate::domain::Delivery;
use crate::store::codec::{DeliveryRow, delivery_cols};
use crate::store::{StoreError, StoreResult};

/// Heads only (partial indexes), and never beside a live in-flight delivery of the same
/// ticket (a replayed earlier delivery becomes head while a later one may be running).
/// `INDEXED BY` pins the partial indexes: without statistics SQLite prefers the `state` index,
/// which makes each claim scan the whole backlog. The limit is a CAST, not a bare `?4`: SQLite
/// plans with the value bound to a bare LIMIT parameter and compiles the statement again
/// whenever that value changes, which for this statement (a new number of free slots at nearly
/// every claim) was a sixth of the CPU of the 50/s benchmark.
const CLAIM: &str = concat!(
    "UPDATE deliveries SET state = 'in_flight', lease_owner = ?1, lease_until = ?2 \
     WHERE id IN (SELECT id FROM ( \
       SELECT * FROM (SELECT id, next_attempt_at AS k FROM deliveries d INDEXED BY deliveries_due \
         WHERE is_head = 1 AND state = 'pending' AND next_attempt_at <= ?3 \
         AND d.tenant NOT IN (SELECT value FROM json_each(?5)) \
         AND NOT EXISTS (SELECT 1 FROM deliveries o INDEXED BY deliveries_in_flight \
           WHERE o.ticket = d.ticket \
           AND o.state = 'in_flight' AND o.lease_until > ?3) \
         ORDER BY next_attempt_at, id LIMIT CAST(?4 AS INTEGER)) \
       UNION ALL \
       SELECT * FROM (SELECT id, next_attempt_at AS k FROM deliveries d INDEXED BY deliveries_expired \
         WHERE is_head = 1 AND state = 'in_flight' AND lease_until <= ?3 \
         AND d.tenant NOT IN (SELECT value FROM json_each(?5)) \
         AND NOT EXISTS (SELECT 1 FROM deliveries o INDEXED BY deliveries_in_flight \
           WHERE o.ticket = d.ticket \
           AND o.state = 'in_flight' AND o.id <> d.id AND o.lease_until > ?3) \
         ORDER BY lease_until, id LIMIT CAST(?4 AS INTEGER))) \
     ORDER BY k, id LIMIT CAST(?4 AS INTEGER)) \
     RETURNING ",
    delivery_cols!()
);

/// Leases up to `limit` due heads to `owner` (see `Store::claim_due`), inside the writer's
/// open transaction, so a claim shares the commit of the outcomes that freed its heads.
pub(super) async fn claim_in(
    conn: &mut SqliteConnection,
    cache: &Cache,
    job: &ClaimJob,
) -> StoreResult<Vec<Delivery>> {
    let db = Direct::lock(conn).await?;
    let mut claim = db.cached(cache, CLAIM)?;
    let skip = serde_json::json!(job.skip).to_string();
    let mut ds = Vec::new();
    claim.for_each(
        &[
            job.owner.as_str().into(),
            job.lease_until.into(),
            job.now.into(),
            job.limit.into(),
            skip.as_str().into(),
        ],
        |r| {
            ds.push(Delivery::try_from(delivery_row(r)?)?);
            Ok(())
        },
    )?;
    ds.sort_by_key(|d| (d.next_attempt_at, d.id));
    Ok(ds)
}

/// A row of `delivery_cols!`, read column by column.
fn delivery_row(r: &Row<'_>) -> StoreResult<DeliveryRow> {
    let int = |i| r.int(i).ok_or_else(|| null(i));
    let text = |i| r.text(i)?.ok_or_else(|| null(i));
    let target = text(5)?;
    Ok(DeliveryRow {
        id: int(0)?,
        tenant: text(1)?,
        event_id: r.text(2)?,
        ticket: text(3)?,
        seq: int(4)?,
        target: Json(
            serde_json::from_str(&target)
                .map_err(|e| StoreError::Corrupt(format!("delivery target {target:?}: {e}")))?,
        ),
        state: text(6)?,
        attempts: int(7)?,
        next_attempt_at: int(8)?,
        created_at: int(9)?,
        last_error: r.text(10)?,
        waiting_link: r.text(11)?,
    })
}

fn null(column: std::ffi::c_int) -> StoreError {
    StoreError::Corrupt(format!("column {column} of a claimed delivery is NULL"))
}
