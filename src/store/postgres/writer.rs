//! Group commit for PostgreSQL ingest: concurrent `ingest` calls share one transaction.
//!
//! Committed one by one, a webhook costs five round trips (BEGIN, event, ticket, delivery,
//! COMMIT) and a WAL flush of its own, each waiting on the connection pool. Instead `ingest`
//! hands its event to a writer ([`group`]), which writes a whole batch in ONE transaction with
//! one statement per table (arrays bound and `UNNEST`ed, so each statement is prepared once
//! whatever the batch size).
//!
//! What stays the database's job, as with one transaction per event: dedupe across replicas
//! (the unique index; a key being inserted by another replica's open transaction makes the
//! insert wait for it, then do nothing) and per-ticket `seq` (the `tickets` rows, locked in
//! key order). Events are inserted in dedupe-key order and tickets locked in ticket order,
//! so two batches (of this replica or another) wait on each other in one direction only.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use super::group::{self, Batch};
use crate::domain::{EventId, IngestOutcome};
use crate::store::codec::{PreparedDisposition, PreparedEvent};
use crate::store::{StoreError, StoreResult};

pub(super) type Reply = oneshot::Sender<StoreResult<IngestOutcome>>;
pub(super) type Job = (PreparedEvent, Reply);

/// Starts the ingest writers (see [`group`]); they stop once the returned sender (the store)
/// is dropped.
pub(super) fn spawn(pool: &PgPool) -> mpsc::Sender<Job> {
    group::spawn::<Ingest>(pool)
}

/// Accepted events, committed in batches.
struct Ingest;

impl Batch for Ingest {
    type Job = Job;
    type Answer = IngestOutcome;
    const JOBS: &'static str = "events";

    async fn commit(pool: &PgPool, jobs: &[Job]) -> StoreResult<Vec<IngestOutcome>> {
        let events: Vec<&PreparedEvent> = jobs.iter().map(|(e, _)| e).collect();
        commit(pool, &events).await
    }

    fn reply((_, reply): Job, answer: StoreResult<IngestOutcome>) {
        let _ = reply.send(answer);
    }
}

/// Writes `events` in one transaction; one outcome per event, in order.
///
/// A later event of the batch with the same (tenant, source, dedupe key) as an earlier one is
/// a duplicate of it and never reaches the database. Deliveries are appended in batch order,
/// so events about one ticket keep the order in which they were handed to the writer.
pub(super) async fn commit(
    pool: &PgPool,
    events: &[&PreparedEvent],
) -> StoreResult<Vec<IngestOutcome>> {
    // The first event of each key, in key order (the order the unique index is taken in).
    let mut first_of: HashMap<(&str, &str, &str), usize> = HashMap::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        first_of
            .entry((e.tenant.as_str(), e.source.as_str(), e.dedupe_key.as_str()))
            .or_insert(i);
    }
    let mut firsts: Vec<(&(&str, &str, &str), &usize)> = first_of.iter().collect();
    firsts.sort_unstable();
    let firsts: Vec<usize> = firsts.into_iter().map(|(_, &i)| i).collect();

    let mut tx = pool.begin().await?;
    let inserted = insert_events(&mut tx, events, &firsts).await?;
    let mut existing: HashMap<usize, EventId> = HashMap::new();
    let missing: Vec<usize> = firsts
        .iter()
        .copied()
        .filter(|&i| !inserted.contains(events[i].id.as_str()))
        .collect();
    if !missing.is_empty() {
        existing = first_events(&mut tx, events, &missing).await?;
    }

    let mut outcomes: Vec<IngestOutcome> = Vec::with_capacity(events.len());
    let mut accepted: Vec<&PreparedEvent> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let key = (e.tenant.as_str(), e.source.as_str(), e.dedupe_key.as_str());
        let first = first_of[&key];
        let outcome = if first != i {
            IngestOutcome::Duplicate(outcomes[first].event_id())
        } else if inserted.contains(e.id.as_str()) {
            accepted.push(*e);
            IngestOutcome::Accepted(parse_id(&e.id)?)
        } else {
            let id = existing.get(&i).copied().ok_or_else(|| {
                StoreError::Unavailable(format!("event {:?}: neither inserted nor found", e.id))
            })?;
            IngestOutcome::Duplicate(id)
        };
        outcomes.push(outcome);
    }
    append(&mut tx, &accepted).await?;
    insert_aliases(&mut tx, &accepted).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Keeps the numbers/keys of accepted events' tickets (a new row only when first seen). In
/// key order, like the events, so two replicas' batches cannot wait on each other in a cycle.
async fn insert_aliases(conn: &mut PgConnection, accepted: &[&PreparedEvent]) -> StoreResult<()> {
    let mut rows: Vec<(&str, &str, &str)> = accepted
        .iter()
        .filter_map(|e| {
            Some((
                e.tenant.as_str(),
                e.ticket_number.as_deref()?,
                e.ticket.as_str(),
            ))
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    rows.sort_unstable();
    rows.dedup();
    let (tenants, rest): (Vec<&str>, Vec<(&str, &str)>) =
        rows.into_iter().map(|(t, a, k)| (t, (a, k))).unzip();
    let (aliases, tickets): (Vec<&str>, Vec<&str>) = rest.into_iter().unzip();
    sqlx::query(
        "INSERT INTO ticket_aliases (tenant, alias, ticket) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenants)
    .bind(aliases)
    .bind(tickets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn parse_id(id: &str) -> StoreResult<EventId> {
    EventId::parse(id).map_err(|err| StoreError::Corrupt(format!("event id {id:?}: {err}")))
}

/// Inserts the events at `firsts` (in that order); returns the ids actually inserted.
async fn insert_events(
    conn: &mut PgConnection,
    events: &[&PreparedEvent],
    firsts: &[usize],
) -> StoreResult<HashSet<String>> {
    let col = |f: fn(&PreparedEvent) -> &str| -> Vec<&str> {
        firsts.iter().map(|&i| f(events[i])).collect()
    };
    let bodies: Vec<&[u8]> = firsts.iter().map(|&i| events[i].body.as_ref()).collect();
    let received: Vec<i64> = firsts.iter().map(|&i| events[i].received_at).collect();
    let d = |f: fn(&PreparedDisposition) -> Option<&str>| -> Vec<Option<&str>> {
        firsts.iter().map(|&i| f(&events[i].disposition)).collect()
    };
    let unrouted: Vec<bool> = firsts
        .iter()
        .map(|&i| events[i].disposition.unrouted)
        .collect();
    let ids: Vec<String> = sqlx::query_scalar(
        "INSERT INTO events (id, tenant, source, dedupe_key, ticket, event_type, body, headers, \
         received_at, skipped, unrouted, parked, parked_detail, parked_rule, parked_pointer, \
         routing, ticket_number) \
         SELECT id, tenant, source, dedupe_key, ticket, event_type, body, headers::jsonb, \
         received_at, skipped, unrouted, parked, parked_detail, parked_rule, parked_pointer, \
         routing, ticket_number \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::bytea[], $8::text[], $9::bigint[], $10::text[], $11::bool[], \
         $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[]) \
         WITH ORDINALITY \
         AS u (id, tenant, source, dedupe_key, ticket, event_type, body, headers, received_at, \
         skipped, unrouted, parked, parked_detail, parked_rule, parked_pointer, routing, \
         ticket_number, n) \
         ORDER BY n \
         ON CONFLICT (tenant, source, dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(col(|e| &e.id))
    .bind(col(|e| &e.tenant))
    .bind(col(|e| &e.source))
    .bind(col(|e| &e.dedupe_key))
    .bind(col(|e| &e.ticket))
    .bind(col(|e| &e.event_type))
    .bind(bodies)
    .bind(col(|e| &e.headers))
    .bind(received)
    .bind(d(|d| d.skipped.as_deref()))
    .bind(unrouted)
    .bind(d(|d| d.parked))
    .bind(d(|d| d.parked_detail.as_deref()))
    .bind(d(|d| d.parked_rule.as_deref()))
    .bind(d(|d| d.parked_pointer.as_deref()))
    .bind(col(|e| &e.routing))
    .bind(
        firsts
            .iter()
            .map(|&i| events[i].ticket_number.as_deref())
            .collect::<Vec<Option<&str>>>(),
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().collect())
}

/// The ids of the events that already hold the keys of the events at `which`.
async fn first_events(
    conn: &mut PgConnection,
    events: &[&PreparedEvent],
    which: &[usize],
) -> StoreResult<HashMap<usize, EventId>> {
    let col = |f: fn(&PreparedEvent) -> &str| -> Vec<&str> {
        which.iter().map(|&i| f(events[i])).collect()
    };
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT u.n, e.id FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY \
         AS u (tenant, source, dedupe_key, n) JOIN events e ON e.tenant = u.tenant \
         AND e.source = u.source AND e.dedupe_key = u.dedupe_key",
    )
    .bind(col(|e| &e.tenant))
    .bind(col(|e| &e.source))
    .bind(col(|e| &e.dedupe_key))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(n, id)| {
            let i = usize::try_from(n - 1)
                .ok()
                .and_then(|k| which.get(k).copied())
                .ok_or_else(|| StoreError::Corrupt(format!("ordinality {n}")))?;
            Ok((i, parse_id(&id)?))
        })
        .collect()
}

/// Appends the deliveries of `accepted` at the tails of their tickets' queues, in batch order:
/// one statement takes the tickets' locks and their next `seq`s (tickets in key order, as
/// `ops::append_all` does), one inserts the deliveries. The head flag is computed in the
/// second statement, which starts after every ticket lock is held, so it sees the last head
/// change of each ticket (`finish` and `replay` change heads under the same lock).
async fn append(conn: &mut PgConnection, accepted: &[&PreparedEvent]) -> StoreResult<()> {
    // Deliveries per ticket, in batch order.
    let mut per_ticket: BTreeMap<&str, i64> = BTreeMap::new();
    for e in accepted {
        for d in &e.deliveries {
            *per_ticket.entry(d.ticket.as_str()).or_default() += 1;
        }
    }
    if per_ticket.is_empty() {
        return Ok(());
    }
    let (tickets, counts): (Vec<&str>, Vec<i64>) = per_ticket.iter().map(|(t, c)| (*t, *c)).unzip();
    let tails: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO tickets (ticket, next_seq) \
         SELECT t, c FROM UNNEST($1::text[], $2::bigint[]) WITH ORDINALITY AS u (t, c, n) \
         ORDER BY n \
         ON CONFLICT (ticket) DO UPDATE SET next_seq = tickets.next_seq + EXCLUDED.next_seq \
         RETURNING ticket, next_seq",
    )
    .bind(&tickets)
    .bind(&counts)
    .fetch_all(&mut *conn)
    .await?;
    // Next seq to hand out per ticket, and whether the ticket's first delivery here is the
    // first of the batch (only that one may become the head).
    let mut next: HashMap<String, (i64, bool)> = HashMap::with_capacity(tails.len());
    for (ticket, last) in tails {
        let n = per_ticket.get(ticket.as_str()).copied().unwrap_or(0);
        next.insert(ticket, (last - n + 1, true));
    }
    let rows = per_ticket.values().sum::<i64>() as usize;
    let (mut tenant, mut event, mut ticket, mut seq, mut target, mut first, mut due) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    for e in accepted {
        for d in &e.deliveries {
            let (s, f) = next.get_mut(d.ticket.as_str()).ok_or_else(|| {
                StoreError::Unavailable(format!("ticket {:?} not locked", d.ticket))
            })?;
            tenant.push(e.tenant.as_str());
            event.push(e.id.as_str());
            ticket.push(d.ticket.as_str());
            seq.push(*s);
            target.push(d.target.as_str());
            first.push(*f);
            due.push(e.received_at);
            *s += 1;
            *f = false;
        }
    }
    sqlx::query(
        "WITH u AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], \
         $5::text[], $6::bool[], $7::bigint[]) AS u (tenant, event_id, ticket, seq, target, \
         first, due)), \
         d AS (INSERT INTO deliveries (tenant, event_id, ticket, seq, state, is_head, \
         attempts, next_attempt_at, created_at) \
         SELECT u.tenant, u.event_id, u.ticket, u.seq, 'pending', \
         u.first AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.ticket = u.ticket \
         AND d.state IN ('pending', 'in_flight')), 0, u.due, u.due FROM u \
         RETURNING id, ticket, seq) \
         INSERT INTO delivery_calls (delivery_id, target) \
         SELECT d.id, u.target::jsonb FROM d JOIN u ON u.ticket = d.ticket AND u.seq = d.seq",
    )
    .bind(tenant)
    .bind(event)
    .bind(ticket)
    .bind(seq)
    .bind(target)
    .bind(first)
    .bind(due)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
