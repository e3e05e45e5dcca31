//! Ingest, the writer's hot operation: a batch of accepted events with their deliveries in a
//! handful of multi-row statements; and the single append the other writes use.

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::domain::{EventId, IngestOutcome};
use crate::store::codec::{PreparedDelivery, PreparedEvent};
use crate::store::{StoreError, StoreResult};

/// Rows per multi-row `INSERT`, under SQLite's 32766 bound parameters (15 per event).
const ROWS_PER_INSERT: usize = 1000;

/// Writes `events` in the open transaction; one outcome per event, in order.
///
/// A batch costs a handful of statements, not a few per event: one multi-row `INSERT … ON
/// CONFLICT DO NOTHING RETURNING id` for the events (a duplicate, also of an event earlier in
/// the same batch, is simply not returned), one lookup of the tickets' current tails, and
/// one multi-row `INSERT` of the deliveries with their `seq` and head flag computed here.
pub(super) async fn ingest(
    tx: &mut SqliteConnection,
    events: &[&PreparedEvent],
) -> StoreResult<Vec<IngestOutcome>> {
    let mut inserted: HashSet<String> = HashSet::with_capacity(events.len());
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let mut b = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (id, tenant, source, dedupe_key, ticket, event_type, body, \
             headers, received_at, skipped, unrouted, parked, parked_detail, parked_rule, \
             parked_pointer, routing, ticket_number) ",
        );
        b.push_values(chunk, |mut row, e| {
            let d = &e.disposition;
            row.push_bind(e.id.as_str())
                .push_bind(e.tenant.as_str())
                .push_bind(e.source.as_str())
                .push_bind(e.dedupe_key.as_str())
                .push_bind(e.ticket.as_str())
                .push_bind(e.event_type.as_str())
                .push_bind(e.body.as_ref())
                .push_bind(e.headers.as_str())
                .push_bind(e.received_at)
                .push_bind(d.skipped.as_deref())
                .push_bind(d.unrouted)
                .push_bind(d.parked)
                .push_bind(d.parked_detail.as_deref())
                .push_bind(d.parked_rule.as_deref())
                .push_bind(d.parked_pointer.as_deref())
                .push_bind(e.routing.as_str())
                .push_bind(e.ticket_number.as_deref());
        });
        b.push(" ON CONFLICT (tenant, source, dedupe_key) DO NOTHING RETURNING id");
        let ids: Vec<String> = b.build_query_scalar().fetch_all(&mut *tx).await?;
        inserted.extend(ids);
    }

    let mut outcomes = Vec::with_capacity(events.len());
    let mut accepted = Vec::with_capacity(events.len());
    for e in events {
        if inserted.contains(&e.id) {
            outcomes.push(IngestOutcome::Accepted(parse_id(&e.id)?));
            accepted.push(*e);
        } else {
            outcomes.push(IngestOutcome::Duplicate(first_event(tx, e).await?));
        }
    }
    insert_deliveries(tx, &accepted).await?;
    insert_aliases(tx, &accepted).await?;
    Ok(outcomes)
}

/// Keeps the numbers/keys of accepted events' tickets. `DO NOTHING` on a pair already known
/// reads its (hot) page and writes nothing, so a ticket costs one new row when first seen,
/// not an index write per webhook.
async fn insert_aliases(conn: &mut SqliteConnection, events: &[&PreparedEvent]) -> StoreResult<()> {
    let named: Vec<(&PreparedEvent, &str)> = events
        .iter()
        .filter_map(|e| Some((*e, e.ticket_number.as_deref()?)))
        .collect();
    for chunk in named.chunks(ROWS_PER_INSERT) {
        let mut b =
            QueryBuilder::<Sqlite>::new("INSERT INTO ticket_aliases (tenant, alias, ticket) ");
        b.push_values(chunk, |mut row, (e, number)| {
            row.push_bind(e.tenant.as_str())
                .push_bind(*number)
                .push_bind(e.ticket.as_str());
        });
        b.push(" ON CONFLICT DO NOTHING");
        b.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn parse_id(id: &str) -> StoreResult<EventId> {
    EventId::parse(id).map_err(|err| StoreError::Corrupt(format!("event id {id:?}: {err}")))
}

/// The event that holds `e`'s dedupe key (committed earlier, or earlier in this batch).
async fn first_event(conn: &mut SqliteConnection, e: &PreparedEvent) -> StoreResult<EventId> {
    let first: String = sqlx::query_scalar(
        "SELECT id FROM events WHERE tenant = ? AND source = ? AND dedupe_key = ?",
    )
    .bind(&e.tenant)
    .bind(&e.source)
    .bind(&e.dedupe_key)
    .fetch_one(&mut *conn)
    .await?;
    parse_id(&first)
}

/// Appends the deliveries of accepted events to their tickets' queues, in batch order.
async fn insert_deliveries(
    conn: &mut SqliteConnection,
    events: &[&PreparedEvent],
) -> StoreResult<()> {
    let rows: Vec<(&PreparedEvent, &PreparedDelivery)> = events
        .iter()
        .flat_map(|e| e.deliveries.iter().map(move |d| (*e, d)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // Current tail of each ticket: last seq, and whether something is still queued.
    let tickets: Vec<&str> = rows
        .iter()
        .map(|(_, d)| d.ticket.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let tickets_json = serde_json::to_string(&tickets)
        .map_err(|e| StoreError::Corrupt(format!("tickets: {e}")))?;
    let tails: Vec<(String, Option<i64>, bool)> = sqlx::query_as(
        "SELECT t.value, (SELECT MAX(seq) FROM deliveries WHERE ticket = t.value), \
         EXISTS (SELECT 1 FROM deliveries WHERE ticket = t.value \
         AND state IN ('pending', 'in_flight')) FROM json_each(?) t",
    )
    .bind(tickets_json)
    .fetch_all(&mut *conn)
    .await?;
    let mut tail: HashMap<String, (i64, bool)> = tails
        .into_iter()
        .map(|(t, seq, busy)| (t, (seq.unwrap_or(0), busy)))
        .collect();
    let mut planned = Vec::with_capacity(rows.len());
    for (e, d) in rows {
        let (seq, busy) = tail.entry(d.ticket.clone()).or_insert((0, false));
        *seq += 1;
        planned.push((e, d, *seq, !*busy));
        *busy = true;
    }
    for chunk in planned.chunks(ROWS_PER_INSERT) {
        let mut b = QueryBuilder::<Sqlite>::new(
            "INSERT INTO deliveries (tenant, event_id, ticket, seq, target, state, is_head, \
             attempts, next_attempt_at, created_at) ",
        );
        b.push_values(chunk, |mut row, (e, d, seq, head)| {
            row.push_bind(e.tenant.as_str())
                .push_bind(e.id.as_str())
                .push_bind(d.ticket.as_str())
                .push_bind(*seq)
                .push_bind(d.target.as_str())
                .push("'pending'")
                .push_bind(*head)
                .push("0")
                .push_bind(e.received_at)
                .push_bind(e.received_at);
        });
        b.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Appends a delivery at the tail of its ticket's queue, due at `due`. Safe because every
/// write goes through the one write connection: `MAX(seq)` cannot race.
pub(super) async fn append(
    conn: &mut SqliteConnection,
    tenant: &str,
    event_id: Option<&str>,
    d: &PreparedDelivery,
    due: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO deliveries (tenant, event_id, ticket, seq, target, state, is_head, \
         attempts, next_attempt_at, created_at) \
         SELECT ?1, ?2, ?3, COALESCE((SELECT MAX(seq) FROM deliveries WHERE ticket = ?3), 0) + 1, \
         ?4, 'pending', NOT EXISTS (SELECT 1 FROM deliveries WHERE ticket = ?3 \
         AND state IN ('pending', 'in_flight')), 0, ?5, ?5",
    )
    .bind(tenant)
    .bind(event_id)
    .bind(&d.ticket)
    .bind(&d.target)
    .bind(due)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
