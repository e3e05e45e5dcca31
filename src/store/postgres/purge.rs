//! Retention on PostgreSQL: one short transaction per step of a purge pass (see
//! `Store::purge_step`).
//!
//! Several replicas may purge at once, and a replay may race a purge: a step locks the final
//! deliveries it means to delete (`FOR UPDATE SKIP LOCKED`) and deletes an event only when it
//! holds every delivery of it, checked again under those locks. A replay waiting on one of
//! those rows finds it gone and reports the delivery as not dead; a row another transaction
//! holds keeps its event for the next pass.

use sqlx::{Connection, PgConnection, PgPool};

use crate::domain::{DeliveryId, EventId};
use crate::store::codec::cutoff;
use crate::store::shared::purge::{EventPhase, finished_bound, finished_candidates, read_finished};
use crate::store::{PurgeCounts, PurgeCursor, PurgeRules, PurgeStep, StoreResult};

/// THE condition under which retention deletes an event `e`, in one place (the SQLite twin is
/// `sqlite::purge::PURGEABLE_EVENT`). Parameters: `$1` done before, `$2` skipped before, `$3`
/// dead before (unix ms; `i64::MIN` for never). An event with deliveries goes once every one
/// of them is final and past its retention (discarded counts as done); an event that planned
/// none goes once it is older than `$2`; a parked event (the mapping could not handle it: it
/// waits for a replay) goes only with the dead letters, after `$3`; a parked event an operator
/// discarded goes like a discarded delivery, once discarded before `$1`.
pub(super) const PURGEABLE_EVENT: &str = "(CASE WHEN e.parked IS NOT NULL THEN e.received_at < $3 \
     WHEN e.discarded_at IS NOT NULL THEN e.discarded_at < $1 \
     WHEN EXISTS (SELECT 1 FROM deliveries d \
     WHERE d.event_id = e.id) \
     THEN NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND NOT ( \
       (d.state IN ('done', 'discarded') AND COALESCE(d.finished_at, 9223372036854775807) < $1) \
       OR (d.state = 'dead' AND COALESCE(d.finished_at, 9223372036854775807) < $3))) \
     ELSE e.received_at < $2 END)";

/// When a write-back `d` (a delivery without an event) goes; parameters as above.
const PURGEABLE_WRITEBACK: &str = "((d.state IN ('done', 'discarded') \
     AND COALESCE(d.finished_at, 9223372036854775807) < $1) \
     OR (d.state = 'dead' AND COALESCE(d.finished_at, 9223372036854775807) < $3))";

/// What a step removes: events with everything of theirs, and write-backs.
#[derive(Default)]
struct Doomed {
    events: Vec<String>,
    writebacks: Vec<i64>,
}

pub(super) async fn step(
    pool: &PgPool,
    rules: &PurgeRules,
    cursor: &PurgeCursor,
    dry_run: bool,
) -> StoreResult<PurgeStep> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let (events, writebacks, next) = match cursor {
        PurgeCursor::Skipped { after } => {
            read_events(&mut tx, rules, EventPhase::Skipped, *after).await?
        }
        PurgeCursor::Discarded { after } => {
            read_events(&mut tx, rules, EventPhase::Discarded, *after).await?
        }
        PurgeCursor::Finished { after } => finished(&mut tx, rules, *after).await?,
    };
    let doomed = lock_and_check(&mut tx, rules, events, writebacks, dry_run).await?;
    let counts = run(&mut tx, &doomed, dry_run).await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(PurgeStep { counts, next })
}

type Candidates = (Vec<String>, Vec<i64>, Option<PurgeCursor>);

/// The events of a page of an event phase (`shared::purge::EventPhase`);
/// `lock_and_check` keeps those past retention.
async fn read_events(
    conn: &mut PgConnection,
    rules: &PurgeRules,
    phase: EventPhase,
    after: Option<EventId>,
) -> StoreResult<Candidates> {
    let page = match phase.page(rules, after) {
        Ok(page) => page,
        Err(next) => return Ok((Vec::new(), Vec::new(), next)),
    };
    let ids: Vec<String> = match &page.skipped_below {
        Some(below) => sqlx::query_scalar(
            "SELECT e.id FROM events e WHERE e.id > $1 AND e.id < $2 ORDER BY e.id LIMIT $3",
        )
        .bind(&page.after)
        .bind(below)
        .bind(page.batch),
        None => sqlx::query_scalar(
            "SELECT e.id FROM events e WHERE e.discarded_at IS NOT NULL AND e.id > $1 \
             ORDER BY e.id LIMIT $2",
        )
        .bind(&page.after)
        .bind(page.batch),
    }
    .fetch_all(&mut *conn)
    .await?;
    let next = page.next(ids.len(), ids.last().map(String::as_str))?;
    Ok((ids, Vec::new(), next))
}

async fn finished(
    conn: &mut PgConnection,
    rules: &PurgeRules,
    after: Option<DeliveryId>,
) -> StoreResult<Candidates> {
    let Some(bound) = finished_bound(rules) else {
        return Ok((Vec::new(), Vec::new(), None));
    };
    let rows = read_finished!(conn, rules, after).await?;
    let (events, writebacks, next) = finished_candidates(&rows, bound, rules);
    let events = events.into_iter().map(str::to_owned).collect();
    Ok((events, writebacks, next))
}

/// Locks the final deliveries of the candidates (not in a dry run) and keeps the events all
/// of whose deliveries are locked and past retention, and the write-backs likewise.
async fn lock_and_check(
    conn: &mut PgConnection,
    rules: &PurgeRules,
    events: Vec<String>,
    writebacks: Vec<i64>,
    dry_run: bool,
) -> StoreResult<Doomed> {
    if events.is_empty() && writebacks.is_empty() {
        return Ok(Doomed::default());
    }
    let lock = if dry_run {
        ""
    } else {
        " FOR UPDATE SKIP LOCKED"
    };
    let held: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM deliveries WHERE (event_id = ANY($1) OR id = ANY($2)) \
         AND state IN ('done', 'discarded', 'dead'){lock}"
    )))
    .bind(&events)
    .bind(&writebacks)
    .fetch_all(&mut *conn)
    .await?;
    let events: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT e.id FROM events e WHERE e.id = ANY($4) AND {PURGEABLE_EVENT} \
         AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.event_id = e.id \
         AND NOT (o.id = ANY($5)))"
    )))
    .bind(cutoff(rules.done_before))
    .bind(cutoff(rules.skipped_before))
    .bind(cutoff(rules.dead_before))
    .bind(&events)
    .bind(&held)
    .fetch_all(&mut *conn)
    .await?;
    let writebacks: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT d.id FROM deliveries d WHERE d.id = ANY($4) AND d.id = ANY($5) \
         AND d.event_id IS NULL AND {PURGEABLE_WRITEBACK} AND $2::bigint IS NOT NULL"
    )))
    .bind(cutoff(rules.done_before))
    .bind(cutoff(rules.skipped_before))
    .bind(cutoff(rules.dead_before))
    .bind(&writebacks)
    .bind(&held)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Doomed { events, writebacks })
}

/// The statements of a step, in foreign-key order; `{op}` is `DELETE` or `SELECT COUNT(*)`,
/// and `$1` the ids its [`Param`] names.
const STATEMENTS: [(&str, Table, Param); 5] = [
    (
        "{op} FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries \
         WHERE event_id = ANY($1))",
        Table::Attempts,
        Param::Events,
    ),
    (
        "{op} FROM attempts WHERE delivery_id = ANY($1)",
        Table::Attempts,
        Param::WriteBacks,
    ),
    (
        "{op} FROM deliveries WHERE event_id = ANY($1)",
        Table::Deliveries,
        Param::Events,
    ),
    (
        "{op} FROM deliveries WHERE id = ANY($1)",
        Table::Deliveries,
        Param::WriteBacks,
    ),
    (
        "{op} FROM events WHERE id = ANY($1)",
        Table::Events,
        Param::Events,
    ),
];

#[derive(Clone, Copy)]
enum Table {
    Events,
    Deliveries,
    Attempts,
}

/// Which ids a statement of [`STATEMENTS`] is given.
#[derive(Clone, Copy)]
enum Param {
    Events,
    WriteBacks,
}

fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    d: &'q Doomed,
    p: Param,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    match p {
        Param::Events => q.bind(&d.events),
        Param::WriteBacks => q.bind(&d.writebacks),
    }
}

async fn run(conn: &mut PgConnection, d: &Doomed, dry_run: bool) -> StoreResult<PurgeCounts> {
    let mut c = PurgeCounts::default();
    for (sql, table, p) in STATEMENTS {
        let empty = match p {
            Param::Events => d.events.is_empty(),
            Param::WriteBacks => d.writebacks.is_empty(),
        };
        if empty {
            continue;
        }
        let n = if dry_run {
            let sql = sql.replace("{op}", "SELECT COUNT(*)");
            let n: i64 = match p {
                Param::Events => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&d.events),
                Param::WriteBacks => {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&d.writebacks)
                }
            }
            .fetch_one(&mut *conn)
            .await?;
            u64::try_from(n).unwrap_or(0)
        } else {
            let sql = sql.replace("{op}", "DELETE");
            bind(sqlx::query(sqlx::AssertSqlSafe(sql)), d, p)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        };
        match table {
            Table::Events => c.events += n,
            Table::Deliveries => c.deliveries += n,
            Table::Attempts => c.attempts += n,
        }
    }
    Ok(c)
}
