//! Retention on SQLite: one short step of a purge pass per call (see `Store::purge_step`).
//!
//! A step is one `BEGIN IMMEDIATE` transaction on the write connection, which the group-commit
//! writer hands back to the pool between its batches: a step holds the database for the
//! length of a few hundred deletes, never for a whole pass, and webhooks arriving meanwhile
//! wait at most that long. Deleted pages go to SQLite's freelist and the next inserts reuse
//! them, so under steady load the file stops growing once a retention period has passed
//! (measured: `benches/soak`); there is no `VACUUM`, which would rewrite the whole file under
//! the write lock.

use serde_json::json;
use sqlx::{Connection, SqliteConnection, SqlitePool};

use crate::domain::{DeliveryId, EventId};
use crate::store::codec::cutoff;
use crate::store::shared::purge::{EventPhase, finished_bound, finished_candidates, read_finished};
use crate::store::{PurgeCounts, PurgeCursor, PurgeRules, PurgeStep, StoreResult};

/// THE condition under which retention deletes an event `e`, in one place (the PostgreSQL
/// twin is `postgres::purge::PURGEABLE_EVENT`). Parameters: `?1` done before, `?2` skipped
/// before, `?3` dead before (unix ms; `i64::MIN` for never). An event with deliveries goes
/// once every one of them is final and past its retention (discarded counts as done); an
/// event that planned none goes once it is older than `?2`; a parked event (the mapping
/// could not handle it: it waits for a replay) goes only with the dead letters, after `?3`; a
/// parked event an operator discarded goes like a discarded delivery, once discarded before
/// `?1`.
pub(super) const PURGEABLE_EVENT: &str = "(CASE WHEN e.parked IS NOT NULL THEN e.received_at < ?3 \
     WHEN e.discarded_at IS NOT NULL THEN e.discarded_at < ?1 \
     WHEN EXISTS (SELECT 1 FROM deliveries d \
     WHERE d.event_id = e.id) \
     THEN NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND NOT ( \
       (d.state IN ('done', 'discarded') AND COALESCE(d.finished_at, 9223372036854775807) < ?1) \
       OR (d.state = 'dead' AND COALESCE(d.finished_at, 9223372036854775807) < ?3))) \
     ELSE e.received_at < ?2 END)";

/// When a write-back `d` (a delivery without an event) goes; parameters as above.
const PURGEABLE_WRITEBACK: &str = "((d.state IN ('done', 'discarded') \
     AND COALESCE(d.finished_at, 9223372036854775807) < ?1) \
     OR (d.state = 'dead' AND COALESCE(d.finished_at, 9223372036854775807) < ?3))";

/// Runs one step: deletes (or counts, in a dry run) and says where the next one starts.
pub(super) async fn step(
    write: &SqlitePool,
    read: &SqlitePool,
    rules: &PurgeRules,
    cursor: &PurgeCursor,
    dry_run: bool,
) -> StoreResult<PurgeStep> {
    let (mut conn, begin) = if dry_run {
        (read.acquire().await?, "BEGIN")
    } else {
        (write.acquire().await?, "BEGIN IMMEDIATE")
    };
    let mut tx = conn.begin_with(begin).await?;
    let (doomed, next) = match cursor {
        PurgeCursor::Skipped { after } => {
            read_events(&mut tx, rules, EventPhase::Skipped, *after).await?
        }
        PurgeCursor::Discarded { after } => {
            read_events(&mut tx, rules, EventPhase::Discarded, *after).await?
        }
        PurgeCursor::Finished { after } => finished(&mut tx, rules, *after).await?,
    };
    let counts = if dry_run {
        count(&mut tx, &doomed).await?
    } else {
        delete(&mut tx, &doomed).await?
    };
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(PurgeStep { counts, next })
}

/// What a step removes: events (id, ticket) with everything of theirs, and write-backs.
#[derive(Default)]
struct Doomed {
    events: Vec<(String, String)>,
    writebacks: Vec<i64>,
}

/// The events of a page of an event phase (`shared::purge::EventPhase`) that go: the
/// discarded ones through their partial index.
async fn read_events(
    conn: &mut SqliteConnection,
    rules: &PurgeRules,
    phase: EventPhase,
    after: Option<EventId>,
) -> StoreResult<(Doomed, Option<PurgeCursor>)> {
    let page = match phase.page(rules, after) {
        Ok(page) => page,
        Err(next) => return Ok((Doomed::default(), next)),
    };
    let sql = match page.skipped_below {
        Some(_) => format!(
            "SELECT e.id, e.ticket, {PURGEABLE_EVENT} FROM events e \
             WHERE e.id > ?4 AND e.id < ?5 ORDER BY e.id LIMIT ?6"
        ),
        None => format!(
            "SELECT e.id, e.ticket, {PURGEABLE_EVENT} FROM events e INDEXED BY events_discarded \
             WHERE e.discarded_at IS NOT NULL AND e.id > ?4 ORDER BY e.id LIMIT ?5"
        ),
    };
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(cutoff(rules.done_before))
        .bind(cutoff(rules.skipped_before))
        .bind(cutoff(rules.dead_before))
        .bind(&page.after);
    if let Some(below) = &page.skipped_below {
        query = query.bind(below);
    }
    let rows: Vec<(String, String, bool)> = query.bind(page.batch).fetch_all(&mut *conn).await?;
    let next = page.next(rows.len(), rows.last().map(|(id, ..)| id.as_str()))?;
    let events = rows
        .into_iter()
        .filter(|(.., purge)| *purge)
        .map(|(id, ticket, _)| (id, ticket))
        .collect();
    Ok((
        Doomed {
            events,
            writebacks: Vec::new(),
        },
        next,
    ))
}

/// Deliveries in id order (about creation order) until the first created after every
/// cutoff: the events they belong to that may go, and the write-backs that may.
async fn finished(
    conn: &mut SqliteConnection,
    rules: &PurgeRules,
    after: Option<DeliveryId>,
) -> StoreResult<(Doomed, Option<PurgeCursor>)> {
    let Some(bound) = finished_bound(rules) else {
        return Ok((Doomed::default(), None));
    };
    let rows = read_finished!(conn, rules, after).await?;
    let (event_ids, writebacks, next) = finished_candidates(&rows, bound, rules);
    let mut doomed = Doomed::default();
    if !event_ids.is_empty() {
        doomed.events = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT e.id, e.ticket FROM events e \
             WHERE e.id IN (SELECT value FROM json_each(?4)) AND {PURGEABLE_EVENT}"
        )))
        .bind(cutoff(rules.done_before))
        .bind(cutoff(rules.skipped_before))
        .bind(cutoff(rules.dead_before))
        .bind(json!(event_ids).to_string())
        .fetch_all(&mut *conn)
        .await?;
    }
    if !writebacks.is_empty() {
        doomed.writebacks = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT d.id FROM deliveries d WHERE d.id IN (SELECT value FROM json_each(?4)) \
             AND d.event_id IS NULL AND {PURGEABLE_WRITEBACK} AND ?2 = ?2"
        )))
        .bind(cutoff(rules.done_before))
        .bind(cutoff(rules.skipped_before))
        .bind(cutoff(rules.dead_before))
        .bind(json!(writebacks).to_string())
        .fetch_all(&mut *conn)
        .await?;
    }
    Ok((doomed, next))
}

/// The statements of a step, in foreign-key order; `{op}` is `DELETE` or `SELECT COUNT(*)`,
/// and `?1` is the JSON array its [`Param`] names.
const STATEMENTS: [(&str, Table, Param); 7] = [
    (
        "{op} FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries \
         WHERE event_id IS NOT NULL AND event_id IN (SELECT value FROM json_each(?1)))",
        Table::Attempts,
        Param::EventIds,
    ),
    (
        "{op} FROM attempts WHERE delivery_id IN (SELECT value FROM json_each(?1))",
        Table::Attempts,
        Param::WriteBacks,
    ),
    (
        "{op} FROM deliveries WHERE event_id IS NOT NULL \
         AND event_id IN (SELECT value FROM json_each(?1))",
        Table::Deliveries,
        Param::EventIds,
    ),
    (
        "{op} FROM deliveries WHERE id IN (SELECT value FROM json_each(?1))",
        Table::Deliveries,
        Param::WriteBacks,
    ),
    (
        "{op} FROM event_tickets WHERE (ticket, event_id) IN \
         (SELECT value ->> 0, value ->> 1 FROM json_each(?1))",
        Table::TicketIndex,
        Param::TicketPairs,
    ),
    (
        "{op} FROM event_tickets_pending WHERE event_id IN (SELECT value FROM json_each(?1))",
        Table::TicketIndex,
        Param::EventIds,
    ),
    (
        "{op} FROM events WHERE id IN (SELECT value FROM json_each(?1))",
        Table::Events,
        Param::EventIds,
    ),
];

/// Which list a statement of [`STATEMENTS`] is given.
#[derive(Clone, Copy)]
enum Param {
    EventIds,
    TicketPairs,
    WriteBacks,
}

#[derive(Clone, Copy)]
enum Table {
    Events,
    Deliveries,
    Attempts,
    TicketIndex,
}

fn tally(c: &mut PurgeCounts, t: Table, n: u64) {
    match t {
        Table::Events => c.events += n,
        Table::Deliveries => c.deliveries += n,
        Table::Attempts => c.attempts += n,
        Table::TicketIndex => c.ticket_index += n,
    }
}

fn param(d: &Doomed, p: Param) -> String {
    match p {
        Param::EventIds => {
            let ids: Vec<&str> = d.events.iter().map(|(id, _)| id.as_str()).collect();
            json!(ids).to_string()
        }
        Param::TicketPairs => {
            let pairs: Vec<[&str; 2]> = d
                .events
                .iter()
                .map(|(id, t)| [t.as_str(), id.as_str()])
                .collect();
            json!(pairs).to_string()
        }
        Param::WriteBacks => json!(d.writebacks).to_string(),
    }
}

async fn delete(conn: &mut SqliteConnection, d: &Doomed) -> StoreResult<PurgeCounts> {
    let mut c = PurgeCounts::default();
    if d.events.is_empty() && d.writebacks.is_empty() {
        return Ok(c);
    }
    for (sql, table, p) in STATEMENTS {
        let sql = sql.replace("{op}", "DELETE");
        let n = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(param(d, p))
            .execute(&mut *conn)
            .await?
            .rows_affected();
        tally(&mut c, table, n);
    }
    Ok(c)
}

async fn count(conn: &mut SqliteConnection, d: &Doomed) -> StoreResult<PurgeCounts> {
    let mut c = PurgeCounts::default();
    if d.events.is_empty() && d.writebacks.is_empty() {
        return Ok(c);
    }
    for (sql, table, p) in STATEMENTS {
        let sql = sql.replace("{op}", "SELECT COUNT(*)");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(param(d, p))
            .fetch_one(&mut *conn)
            .await?;
        tally(&mut c, table, u64::try_from(n).unwrap_or(0));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use crate::store::codec::{id_bound, ms};

    #[test]
    fn an_id_bound_sorts_between_the_ids_of_the_millisecond_before_and_its_own() {
        let at = time::macros::datetime!(2026-03-01 12:00:00 UTC);
        let before = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            at.unix_timestamp() as u64 - 1,
            999_999_999,
        ));
        let same = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            at.unix_timestamp() as u64,
            0,
        ));
        let bound = id_bound(ms(at));
        assert!(before.to_string() < bound, "{before} < {bound}");
        assert!(same.to_string() >= bound, "{same} >= {bound}");
    }
}
