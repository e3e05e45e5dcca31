//! Group commit for PostgreSQL's deliveries: outcomes and claims of one replica share a
//! transaction.
//!
//! Recorded one by one, an outcome was a transaction of its own (about ten round trips and a
//! WAL flush), and a claim was another commit. Instead `finish` and `claim_due` hand their job
//! to a writer ([`group`]), which records a batch's outcomes with one statement per kind
//! whatever their number (JSON rows through `jsonb_to_recordset`, arrays through `UNNEST`, so
//! each statement is prepared once), then runs its claims, which see the heads those outcomes
//! just freed, all in one transaction.
//!
//! Locking order (as in [`super::ops`]): the batch's tickets first, in key order, in one
//! statement; then its delivery rows, in id order. Claims come last and skip locked rows, so
//! they never wait.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use super::group::{self, Batch};
use crate::domain::Delivery;
use crate::store::codec::{DeliveryRow, delivery_cols};
use crate::store::shared::finish::{self as rows, Holder};
use crate::store::shared::{ClaimJob, FinishJob};
use crate::store::{StoreError, StoreResult};

/// What the writer is asked to do, with where to send the answer.
pub(super) enum Job {
    Finish(Box<FinishJob>, oneshot::Sender<StoreResult<()>>),
    Claim(ClaimJob, oneshot::Sender<StoreResult<Vec<Delivery>>>),
}

impl Job {
    fn outcome(&self) -> Option<&FinishJob> {
        match self {
            Job::Finish(f, _) => Some(f),
            Job::Claim(..) => None,
        }
    }
}

/// One job's result: an outcome may be refused alone; a claim fails only with its batch.
pub(super) enum Answer {
    Finished(StoreResult<()>),
    Claimed(Vec<Delivery>),
}

/// Sends `job` its answer (a waiter that went away needs none).
fn reply(job: Job, answer: StoreResult<Answer>) {
    let misfit = || StoreError::Corrupt("writer answered out of order".into());
    let _ = match (job, answer) {
        (Job::Finish(_, r), Ok(Answer::Finished(a))) => r.send(a).map_err(drop),
        (Job::Claim(_, r), Ok(Answer::Claimed(ds))) => r.send(Ok(ds)).map_err(drop),
        (Job::Finish(_, r), Err(e)) => r.send(Err(e)).map_err(drop),
        (Job::Claim(_, r), Err(e)) => r.send(Err(e)).map_err(drop),
        (Job::Finish(_, r), Ok(_)) => r.send(Err(misfit())).map_err(drop),
        (Job::Claim(_, r), Ok(_)) => r.send(Err(misfit())).map_err(drop),
    };
}

/// Starts the writers (see [`group`]); they stop once the returned sender (the store) is
/// dropped.
pub(super) fn spawn(pool: &PgPool) -> mpsc::Sender<Job> {
    group::spawn::<Outcomes>(pool)
}

/// Outcomes and claims, committed in batches.
struct Outcomes;

impl Batch for Outcomes {
    type Job = Job;
    type Answer = Answer;
    const JOBS: &'static str = "outcomes and claims";

    async fn commit(pool: &PgPool, jobs: &[Job]) -> StoreResult<Vec<Answer>> {
        commit(pool, jobs).await
    }

    fn reply(job: Job, answer: StoreResult<Answer>) {
        reply(job, answer);
    }
}

/// Writes every job of `jobs` in one transaction; one answer per job, in order. Outcomes
/// first, then the claims (which see the heads the outcomes freed).
async fn commit(pool: &PgPool, jobs: &[Job]) -> StoreResult<Vec<Answer>> {
    let mut tx = pool.begin().await?;
    let finishes: Vec<&FinishJob> = jobs.iter().filter_map(Job::outcome).collect();
    let mut finished = if finishes.is_empty() {
        Vec::new()
    } else {
        finish_batch(&mut tx, &finishes).await?
    }
    .into_iter();
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        answers.push(match job {
            Job::Finish(..) => Answer::Finished(
                finished
                    .next()
                    .ok_or_else(|| StoreError::Corrupt("an outcome without an answer".into()))?,
            ),
            Job::Claim(c, _) => Answer::Claimed(claim_in(&mut tx, c).await?),
        });
    }
    tx.commit().await?;
    Ok(answers)
}

/// Records every outcome of `jobs` in the open transaction; one result per job, in order (a
/// job refused alone, see [`rows::judge`], writes nothing).
async fn finish_batch(
    conn: &mut PgConnection,
    jobs: &[&FinishJob],
) -> StoreResult<Vec<StoreResult<()>>> {
    let ids = rows::ids(jobs);
    // The tickets first, in key order (the sub-query runs before the rows are read; a
    // delivery's ticket never changes, so it is read unlocked; a ticket without its row, none
    // ever appended there, needs no lock), then the deliveries, in id order.
    let found: Vec<(i64, String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT id, state, lease_owner, tenant, ticket FROM deliveries \
         WHERE id = ANY($1) AND (SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE ticket IN \
           (SELECT ticket FROM deliveries WHERE id = ANY($1)) ORDER BY ticket FOR UPDATE) t) >= 0 \
         ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let holders: HashMap<i64, Holder> = found
        .into_iter()
        .map(|(id, state, owner, tenant, ticket)| {
            let h = Holder {
                state,
                owner,
                tenant,
                ticket,
            };
            (id, h)
        })
        .collect();
    let (results, accepted) = rows::judge(jobs, &holders);
    if accepted.is_empty() {
        return Ok(results);
    }
    if let Some(attempts) = rows::attempt_rows(&accepted) {
        sqlx::query(
            "INSERT INTO attempts (delivery_id, at, outcome, http_status, error_code, error, \
             latency_ms) SELECT d, at, o, h, c, e, l FROM jsonb_to_recordset($1::jsonb) \
             AS j (d BIGINT, at BIGINT, o TEXT, h BIGINT, c TEXT, e TEXT, l BIGINT)",
        )
        .bind(attempts)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "UPDATE deliveries SET state = j.s, attempts = deliveries.attempts + j.n, \
         next_attempt_at = COALESCE(j.next, deliveries.next_attempt_at), \
         lease_owner = NULL, lease_until = NULL, \
         last_error = CASE WHEN j.k = 1 THEN deliveries.last_error ELSE j.e END, \
         finished_at = COALESCE(j.f, deliveries.finished_at), \
         is_head = CASE WHEN j.f IS NULL THEN deliveries.is_head ELSE FALSE END, \
         waiting_link = CASE WHEN j.w IS NOT NULL THEN j.w \
           WHEN j.kw = 1 THEN deliveries.waiting_link END \
         FROM jsonb_to_recordset($1::jsonb) AS j (id BIGINT, s TEXT, n BIGINT, next BIGINT, \
           e TEXT, k INT, f BIGINT, w TEXT, kw INT) \
         WHERE deliveries.id = j.id",
    )
    .bind(rows::update_rows(&accepted))
    .execute(&mut *conn)
    .await?;
    insert_links(conn, &accepted).await?;
    remember_echoes(conn, &accepted).await?;
    super::ops::refresh_heads(conn, &rows::finals(&accepted)).await?;
    Ok(results)
}

/// Records the links made by creates (a ticket keeps its first link, see
/// [`rows::not_recorded`]) and makes the deliveries that waited for them due.
async fn insert_links(
    conn: &mut PgConnection,
    accepted: &[(&FinishJob, &Holder)],
) -> StoreResult<()> {
    let links = rows::made_links(accepted)?;
    if links.is_empty() {
        return Ok(());
    }
    let col = |f: for<'l> fn(&'l rows::MadeLink<'_>) -> &'l str| -> Vec<&str> {
        links.iter().map(f).collect()
    };
    let recorded: HashSet<String> = sqlx::query_scalar(
        "INSERT INTO links (ticket, tenant, source, api, orange_id, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::bigint[]) ON CONFLICT DO NOTHING RETURNING ticket",
    )
    .bind(col(|l| &l.holder.ticket))
    .bind(col(|l| &l.holder.tenant))
    .bind(col(|l| &l.source))
    .bind(col(|l| l.link.api.as_str()))
    .bind(col(|l| &l.orange_id))
    .bind(links.iter().map(|l| l.at).collect::<Vec<i64>>())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let (woken, at): (Vec<&str>, Vec<i64>) = links
        .iter()
        .filter(|l| recorded.contains(&l.holder.ticket))
        .map(|l| (l.holder.ticket.as_str(), l.at))
        .unzip();
    if !woken.is_empty() {
        sqlx::query(
            "UPDATE deliveries SET waiting_link = NULL, \
             next_attempt_at = LEAST(deliveries.next_attempt_at, u.at) \
             FROM UNNEST($1::text[], $2::bigint[]) AS u (ticket, at) \
             WHERE deliveries.ticket = u.ticket AND deliveries.waiting_link IS NOT NULL \
             AND deliveries.state = 'pending'",
        )
        .bind(woken)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    for l in &links {
        if !recorded.contains(&l.holder.ticket) {
            rows::not_recorded(l);
        }
    }
    Ok(())
}

/// Keeps the fingerprints of ITSM write-backs until their `echo_until`, so the webhooks they
/// trigger are recognised as echoes.
async fn remember_echoes(
    conn: &mut PgConnection,
    accepted: &[(&FinishJob, &Holder)],
) -> StoreResult<()> {
    let Some((now, echoes)) = rows::echoes(accepted) else {
        return Ok(());
    };
    sqlx::query("DELETE FROM echoes WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    // One row per key (an upsert may not touch a row twice), the latest expiry; in key order.
    let mut latest: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (tenant, fingerprint, until) in echoes {
        let e = latest.entry((tenant, fingerprint)).or_insert(until);
        *e = (*e).max(until);
    }
    let (keys, until): (Vec<(&str, &str)>, Vec<i64>) = latest.into_iter().unzip();
    let (tenants, fingerprints): (Vec<&str>, Vec<&str>) = keys.into_iter().unzip();
    sqlx::query(
        "INSERT INTO echoes (tenant, fingerprint, expires_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) \
         ON CONFLICT (tenant, fingerprint) \
         DO UPDATE SET expires_at = GREATEST(echoes.expires_at, EXCLUDED.expires_at)",
    )
    .bind(tenants)
    .bind(fingerprints)
    .bind(until)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Leases up to `limit` due heads to `owner` (see `Store::claim_due`) in the open transaction.
///
/// Heads only (partial indexes), and never beside a live in-flight delivery of the same
/// ticket. Rows another transaction is claiming or finishing right now are skipped, not
/// waited for; a row claimed and committed meanwhile is re-checked by PostgreSQL against its
/// new version (no longer due) and left out.
async fn claim_in(conn: &mut PgConnection, job: &ClaimJob) -> StoreResult<Vec<Delivery>> {
    let rs: Vec<DeliveryRow> = sqlx::query_as(concat!(
        "WITH p AS (SELECT id, next_attempt_at AS k FROM deliveries d \
             WHERE is_head AND state = 'pending' AND next_attempt_at <= $3 \
             AND d.tenant <> ALL($5::text[]) \
             AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.ticket = d.ticket \
               AND o.state = 'in_flight' AND o.lease_until > $3) \
             ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED), \
         e AS (SELECT id, next_attempt_at AS k FROM deliveries d \
             WHERE is_head AND state = 'in_flight' AND lease_until <= $3 \
             AND d.tenant <> ALL($5::text[]) \
             AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.ticket = d.ticket \
               AND o.state = 'in_flight' AND o.id <> d.id AND o.lease_until > $3) \
             ORDER BY lease_until, id LIMIT $4 FOR UPDATE SKIP LOCKED), \
         pick AS (SELECT id AS pid FROM (SELECT id, k FROM p UNION ALL SELECT id, k FROM e) u \
             ORDER BY k, id LIMIT $4) \
         UPDATE deliveries SET state = 'in_flight', lease_owner = $1, lease_until = $2 \
         FROM pick WHERE deliveries.id = pick.pid RETURNING ",
        delivery_cols!()
    ))
    .bind(&job.owner)
    .bind(job.lease_until)
    .bind(job.now)
    .bind(job.limit)
    .bind(&job.skip)
    .fetch_all(&mut *conn)
    .await?;
    let mut ds: Vec<Delivery> = crate::store::shared::rows(rs)?;
    ds.sort_by_key(|d| (d.next_attempt_at, d.id));
    Ok(ds)
}
