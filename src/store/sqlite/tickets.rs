//! Events by ticket, indexed in bulk.
//!
//! An index on `events (ticket, id)` takes one entry per webhook at a random place (the events
//! of many tickets interleave), so a batch of N webhooks dirties about N pages of it, and each
//! dirty page is written whole to the log, copied back by the checkpoint and fsync'd: under
//! `wrk` with 2,000 busy tickets, a seventh of the gateway's CPU for an index that only the
//! admin API and reconciliation read.
//!
//! So that index is written in bulk. A trigger appends the `(ticket, id)` of every new event to
//! `event_tickets_pending`, a table without any index (appends fill its pages in order), and
//! the writer moves those rows into `event_tickets` in one sorted insert once
//! [`FLUSH_ROWS`] of them are pending, or once it has had nothing to write for [`IDLE`]; the
//! rows that belong on one page then land on it together. Readers ([`push_filter`]) look in
//! both tables within one statement, which sees one snapshot, so an event is found whether or
//! not its row has moved yet. A flush that fails leaves its rows pending, still found.

use std::time::{Duration, Instant};

use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

/// Pending rows from which the writer moves them into the index between two batches: about
/// three seconds at 5,000 webhooks/s; a reader scans at most about this many.
pub(super) const FLUSH_ROWS: usize = 16_384;
/// Time without anything to write after which the writer moves what is pending.
pub(super) const IDLE: Duration = Duration::from_secs(1);

/// The writer's count of rows pending since its last flush (the events it accepted).
#[derive(Debug, Default)]
pub(super) struct Pending {
    rows: usize,
}

impl Pending {
    pub(super) fn add(&mut self, accepted: usize) {
        self.rows += accepted;
    }

    /// Something was accepted since the last flush.
    pub(super) fn any(&self) -> bool {
        self.rows > 0
    }

    /// Enough is pending to be worth a flush between two batches.
    pub(super) fn full(&self) -> bool {
        self.rows >= FLUSH_ROWS
    }

    /// Moves every pending row into the index. After a failure (logged) the rows stay pending,
    /// found by readers, and the next attempt waits for as many new ones.
    pub(super) async fn flush(&mut self, write: &mut SqliteConnection) {
        self.rows = 0;
        if let Err(e) = flush(write).await {
            tracing::warn!(error = %e, "cannot move pending rows into the ticket index; they stay pending");
        }
    }
}

/// Moves every row of `event_tickets_pending` into `event_tickets`, in one transaction; the
/// rows moved.
pub(super) async fn flush(write: &mut SqliteConnection) -> sqlx::Result<u64> {
    let started = Instant::now();
    let mut tx = write.begin_with("BEGIN IMMEDIATE").await?;
    // Sorted, so that the B-tree is filled page by page. The DELETE is in the same
    // transaction: a row is never in both tables, and `OR IGNORE` is only a guard.
    let moved = sqlx::query(
        "INSERT OR IGNORE INTO event_tickets (ticket, event_id) \
         SELECT ticket, event_id FROM event_tickets_pending ORDER BY ticket, event_id",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM event_tickets_pending")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::histogram!("itsm_bridge_store_ticket_index_flush_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(moved)
}

/// Adds `AND id IN (…)` to a query on `events`: the ids of `ticket`'s events, indexed or still
/// pending. With `before` and `limit`, the indexed part is cut to the `limit` newest ids below
/// `before` (the caller filters and limits the same way; a ticket key names its tenant, so no
/// other filter can drop one of them).
pub(super) fn push_filter(
    b: &mut QueryBuilder<Sqlite>,
    ticket: &str,
    before: Option<String>,
    limit: i64,
) {
    b.push(" AND id IN (SELECT event_id FROM (SELECT event_id FROM event_tickets WHERE ticket = ")
        .push_bind(ticket.to_owned());
    if let Some(before) = before {
        b.push(" AND event_id < ").push_bind(before);
    }
    b.push(" ORDER BY event_id DESC LIMIT ")
        .push_bind(limit)
        .push(") UNION ALL SELECT event_id FROM event_tickets_pending WHERE ticket = ")
        .push_bind(ticket.to_owned())
        .push(")");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventId, NewEvent, SourceName, TenantId, TicketKey};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{EventQuery, Store};

    fn event(key: &str, ticket: &str) -> NewEvent {
        let tenant = TenantId::parse("t").unwrap();
        let source = SourceName::parse("jira").unwrap();
        NewEvent {
            id: EventId::new(),
            ticket: TicketKey::new(&tenant, &source, ticket),
            tenant,
            source,
            dedupe_key: key.into(),
            event_type: "e".into(),
            body: bytes::Bytes::from_static(b"{}"),
            headers: vec![],
            received_at: time::OffsetDateTime::UNIX_EPOCH,
            deliveries: vec![],
        }
    }

    async fn ingest(store: &SqliteStore, key: &str, ticket: &str) -> EventId {
        store.ingest(event(key, ticket)).await.unwrap().event_id()
    }

    /// Rows in the pending table (`pending`) or in the index.
    async fn count(store: &SqliteStore, pending: bool) -> i64 {
        let sql = if pending {
            "SELECT COUNT(*) FROM event_tickets_pending"
        } else {
            "SELECT COUNT(*) FROM event_tickets"
        };
        sqlx::query_scalar(sql)
            .fetch_one(&store.read)
            .await
            .unwrap()
    }

    async fn listed(
        store: &SqliteStore,
        tenant: &str,
        ticket: &str,
        before: Option<EventId>,
        limit: u32,
    ) -> Vec<EventId> {
        let q = EventQuery {
            tenant: Some(TenantId::parse(tenant).unwrap()),
            ticket: Some(TicketKey::from_stored(format!("t/jira/{ticket}"))),
            before,
            limit,
        };
        let events = store.list_events(&q).await.unwrap();
        events.into_iter().map(|e| e.id).collect()
    }

    fn newest_first(mut ids: Vec<EventId>) -> Vec<EventId> {
        ids.sort_by_key(|id| std::cmp::Reverse(*id));
        ids
    }

    #[tokio::test]
    async fn a_ticket_s_events_are_found_whether_or_not_they_moved_into_the_index() {
        let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        let x1 = ingest(&store, "k1", "X").await;
        let y1 = ingest(&store, "k2", "Y").await;
        let x2 = ingest(&store, "k3", "X").await;
        let moved = flush(&mut store.write.acquire().await.unwrap())
            .await
            .unwrap();
        assert_eq!(moved, 3);
        assert_eq!(count(&store, true).await, 0);
        // Two more, still pending; a duplicate adds no row.
        let x3 = ingest(&store, "k4", "X").await;
        let y2 = ingest(&store, "k5", "Y").await;
        assert_eq!(ingest(&store, "k4", "X").await, x3);
        assert_eq!(count(&store, true).await, 2);

        let xs = newest_first(vec![x1, x2, x3]);
        assert_eq!(listed(&store, "t", "X", None, 10).await, xs);
        assert_eq!(listed(&store, "t", "X", None, 2).await, xs[..2]);
        assert_eq!(listed(&store, "t", "X", Some(xs[0]), 10).await, xs[1..]);
        assert_eq!(listed(&store, "t", "X", Some(xs[1]), 1).await, xs[2..]);
        assert_eq!(
            listed(&store, "t", "Y", None, 10).await,
            newest_first(vec![y1, y2])
        );
        assert!(listed(&store, "other", "X", None, 10).await.is_empty());
        assert!(listed(&store, "t", "Z", None, 10).await.is_empty());
    }

    #[tokio::test]
    async fn a_ticket_s_ids_drive_the_query_not_the_tenant_s_newest_events() {
        let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        let q = EventQuery {
            tenant: Some(TenantId::parse("t").unwrap()),
            ticket: Some(TicketKey::from_stored("t/jira/X".into())),
            before: Some(EventId::new()),
            limit: 200,
        };
        // The columns `list_events` reads: the plan depends on them (a covering index).
        let mut b = QueryBuilder::<Sqlite>::new(concat!(
            "EXPLAIN QUERY PLAN SELECT ",
            crate::store::codec::event_cols!(),
            " FROM events WHERE 1 = 1"
        ));
        super::super::push_event_filters(&mut b, &q);
        let plan: Vec<String> = b
            .build()
            .fetch_all(&store.read)
            .await
            .unwrap()
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
            .collect();
        // Events must be looked up by the ticket's ids (`id=?`), never walked newest first
        // through `events_tenant` or the id index (`id<?`), which for a ticket whose events
        // are old reads every event of the tenant.
        let on_events: Vec<&str> = plan
            .iter()
            .map(String::as_str)
            .filter(|d| d.split_whitespace().nth(1) == Some("events"))
            .collect();
        assert!(
            on_events.len() == 1
                && on_events[0].starts_with("SEARCH events USING ")
                && on_events[0].ends_with("id=?)"),
            "events are not looked up by the ticket's ids: {plan:?}"
        );
    }

    #[tokio::test]
    async fn the_writer_moves_pending_rows_once_it_is_idle() {
        let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        let id = ingest(&store, "k1", "X").await;
        let mut moved = false;
        for _ in 0..1000 {
            if count(&store, true).await == 0 {
                moved = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(moved, "nothing moved the pending row");
        assert_eq!(count(&store, false).await, 1);
        assert_eq!(listed(&store, "t", "X", None, 10).await, vec![id]);
    }

    #[tokio::test]
    async fn the_writer_moves_pending_rows_once_flush_rows_are_pending() {
        let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        // Back to back, 256 at a time (never idle for long): the move is the threshold's.
        let total = FLUSH_ROWS + 512;
        for chunk in 0..total / 256 {
            let ingests = (0..256).map(|i| {
                let n = chunk * 256 + i;
                store.ingest(event(&format!("k{n}"), &format!("T{}", n % 300)))
            });
            futures_util::future::join_all(ingests).await;
        }
        let (pending, indexed) = (count(&store, true).await, count(&store, false).await);
        assert_eq!(pending + indexed, total as i64);
        assert!(
            pending < FLUSH_ROWS as i64,
            "{pending} rows still pending after {total} events"
        );
        let listed = listed(&store, "t", "T7", None, 1000).await;
        assert_eq!(listed.len(), (0..total).filter(|n| n % 300 == 7).count());
    }
}
