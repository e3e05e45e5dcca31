//! Ingest, the writer's hot operation: a batch of accepted events with their deliveries, run
//! on the writer's own thread ([`super::direct`]); and the single append the other writes use.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use sqlx::SqliteConnection;

use super::direct::{Cache, Direct, Statement};
use crate::domain::{EventId, IngestOutcome};
use crate::store::codec::{PreparedDelivery, PreparedEvent};
use crate::store::{StoreError, StoreResult};

/// Writes `events` in the open transaction; one outcome per event, in order.
///
/// Each statement is compiled once (or taken from `cache`) and stepped once per row, on the
/// writer's thread: the event (`ON CONFLICT DO NOTHING`: a duplicate, also of an event earlier
/// in the same batch, changes nothing and is then looked up), the tail of each ticket the
/// batch appends to (read once per ticket), each delivery with its `seq` and head flag computed
/// here and its call (`delivery_calls`), and each ticket's number or key.
pub(super) async fn ingest(
    tx: &mut SqliteConnection,
    cache: &Cache,
    events: &[&PreparedEvent],
) -> StoreResult<Vec<IngestOutcome>> {
    let db = Direct::lock(tx).await?;
    ingest_on(&db, cache, events)
}

fn ingest_on(
    db: &Direct<'_>,
    cache: &Cache,
    events: &[&PreparedEvent],
) -> StoreResult<Vec<IngestOutcome>> {
    let mut insert = db.cached(
        cache,
        "INSERT INTO events (id, tenant, source, dedupe_key, ticket, event_type, body, \
          headers, received_at, skipped, unrouted, parked, parked_detail, parked_rule, \
          parked_pointer, routing, ticket_number) \
          VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
          ON CONFLICT (tenant, source, dedupe_key) DO NOTHING",
    )?;
    let mut first: Option<Statement<'_>> = None;
    let mut outcomes = Vec::with_capacity(events.len());
    let mut accepted = Vec::with_capacity(events.len());
    for e in events {
        let d = &e.disposition;
        let changed = insert.execute(&[
            e.id.as_str().into(),
            e.tenant.as_str().into(),
            e.source.as_str().into(),
            e.dedupe_key.as_str().into(),
            e.ticket.as_str().into(),
            e.event_type.as_str().into(),
            e.body.as_ref().into(),
            e.headers.as_str().into(),
            e.received_at.into(),
            d.skipped.as_deref().into(),
            d.unrouted.into(),
            d.parked.into(),
            d.parked_detail.as_deref().into(),
            d.parked_rule.as_deref().into(),
            d.parked_pointer.as_deref().into(),
            e.routing.as_str().into(),
            e.ticket_number.as_deref().into(),
        ])?;
        if changed == 1 {
            outcomes.push(IngestOutcome::Accepted(parse_id(&e.id)?));
            accepted.push(*e);
        } else {
            let lookup = match &mut first {
                Some(s) => s,
                None => first.insert(db.cached(
                    cache,
                    "SELECT id FROM events WHERE tenant = ?1 AND source = ?2 AND dedupe_key = ?3",
                )?),
            };
            outcomes.push(IngestOutcome::Duplicate(first_event(lookup, e)?));
        }
    }
    insert_deliveries(db, cache, &accepted)?;
    insert_aliases(db, cache, &accepted)?;
    Ok(outcomes)
}

/// Keeps the numbers/keys of accepted events' tickets. `DO NOTHING` on a pair already known
/// reads its (hot) page and writes nothing, so a ticket costs one new row when first seen,
/// not an index write per webhook.
fn insert_aliases(db: &Direct<'_>, cache: &Cache, events: &[&PreparedEvent]) -> StoreResult<()> {
    let mut named = events
        .iter()
        .filter_map(|e| Some((*e, e.ticket_number.as_deref()?)))
        .peekable();
    if named.peek().is_none() {
        return Ok(());
    }
    let mut insert = db.cached(
        cache,
        "INSERT INTO ticket_aliases (tenant, alias, ticket) VALUES (?1, ?2, ?3) \
          ON CONFLICT DO NOTHING",
    )?;
    for (e, number) in named {
        insert.execute(&[
            e.tenant.as_str().into(),
            number.into(),
            e.ticket.as_str().into(),
        ])?;
    }
    Ok(())
}

fn parse_id(id: &str) -> StoreResult<EventId> {
    EventId::parse(id).map_err(|err| StoreError::Corrupt(format!("event id {id:?}: {err}")))
}

/// The event that holds `e`'s dedupe key (committed earlier, or earlier in this batch).
fn first_event(lookup: &mut Statement<'_>, e: &PreparedEvent) -> StoreResult<EventId> {
    let first = lookup.query_row(
        &[
            e.tenant.as_str().into(),
            e.source.as_str().into(),
            e.dedupe_key.as_str().into(),
        ],
        |r| r.text(0),
    )?;
    match first.flatten() {
        Some(id) => parse_id(&id),
        None => Err(StoreError::NotFound(format!(
            "the event holding dedupe key {:?}",
            e.dedupe_key
        ))),
    }
}

/// Appends the deliveries of accepted events to their tickets' queues, in batch order.
fn insert_deliveries(db: &Direct<'_>, cache: &Cache, events: &[&PreparedEvent]) -> StoreResult<()> {
    let mut rows = events
        .iter()
        .flat_map(|e| e.deliveries.iter().map(move |d| (*e, d)))
        .peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    // Each ticket's tail when first met in the batch: its last seq, and whether something is
    // still queued (then the new delivery is not the head).
    let mut tail_of = db.cached(
        cache,
        "SELECT (SELECT MAX(seq) FROM deliveries WHERE ticket = ?1), \
          EXISTS (SELECT 1 FROM deliveries WHERE ticket = ?1 \
          AND state IN ('pending', 'in_flight'))",
    )?;
    let mut insert = db.cached(
        cache,
        "INSERT INTO deliveries (tenant, event_id, ticket, seq, state, is_head, attempts, \
          next_attempt_at, created_at) \
          VALUES (?1, ?2, ?3, ?4, 'pending', ?5, 0, ?6, ?6) RETURNING id",
    )?;
    let mut call = db.cached(
        cache,
        "INSERT INTO delivery_calls (delivery_id, target) VALUES (?1, ?2)",
    )?;
    let mut tails: HashMap<&str, (i64, bool)> = HashMap::new();
    for (e, d) in rows {
        let (seq, busy) = match tails.entry(d.ticket.as_str()) {
            Entry::Occupied(t) => t.into_mut(),
            Entry::Vacant(t) => t.insert(
                tail_of
                    .query_row(&[d.ticket.as_str().into()], |r| {
                        Ok((r.int(0).unwrap_or(0), r.int(1) == Some(1)))
                    })?
                    .unwrap_or((0, false)),
            ),
        };
        *seq += 1;
        let id = insert
            .query_row(
                &[
                    e.tenant.as_str().into(),
                    e.id.as_str().into(),
                    d.ticket.as_str().into(),
                    (*seq).into(),
                    (!*busy).into(),
                    e.received_at.into(),
                ],
                |r| {
                    r.int(0)
                        .ok_or_else(|| StoreError::Corrupt("a delivery without an id".into()))
                },
            )?
            .ok_or_else(|| StoreError::Corrupt("an insert of a delivery returned no id".into()))?;
        call.execute(&[id.into(), d.target.as_str().into()])?;
        *busy = true;
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO deliveries (tenant, event_id, ticket, seq, state, is_head, attempts, \
         next_attempt_at, created_at) \
         SELECT ?1, ?2, ?3, COALESCE((SELECT MAX(seq) FROM deliveries WHERE ticket = ?3), 0) + 1, \
         'pending', NOT EXISTS (SELECT 1 FROM deliveries WHERE ticket = ?3 \
         AND state IN ('pending', 'in_flight')), 0, ?4, ?4 RETURNING id",
    )
    .bind(tenant)
    .bind(event_id)
    .bind(&d.ticket)
    .bind(due)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO delivery_calls (delivery_id, target) VALUES (?, ?)")
        .bind(id)
        .bind(&d.target)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
