use super::*;
use crate::domain::{EventId, TenantId, TicketKey};
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::test_events::jira_event;
use crate::store::{AdminStore, IngestStore};
use crate::store::{EventQuery, Store};

async fn ingest(store: &SqliteStore, key: &str, ticket: &str) -> EventId {
    store
        .ingest(jira_event(key, ticket))
        .await
        .unwrap()
        .event_id()
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

/// A migrated store at `url` with `conns` read connections.
async fn migrated(url: &str, conns: u32) -> SqliteStore {
    let store = SqliteStore::open(url, conns).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Rows pending once the writer has brought them to `at_most` (or after 10 s, whatever
/// is pending then).
async fn pending_once_at_most(store: &SqliteStore, at_most: i64) -> i64 {
    let mut pending = count(store, true).await;
    for _ in 0..1000 {
        if pending <= at_most {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        pending = count(store, true).await;
    }
    pending
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
        ..Default::default()
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
    let store = migrated("sqlite::memory:", 1).await;
    let x1 = ingest(&store, "k1", "X").await;
    let y1 = ingest(&store, "k2", "Y").await;
    let x2 = ingest(&store, "k3", "X").await;
    let moved = Pending::default()
        .move_all(&mut store.write.acquire().await.unwrap())
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
    let store = migrated("sqlite::memory:", 1).await;
    let q = EventQuery {
        tenant: Some(TenantId::parse("t").unwrap()),
        ticket: Some(TicketKey::from_stored("t/jira/X".into())),
        before: Some(EventId::new()),
        limit: 200,
        ..Default::default()
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
    let store = migrated("sqlite::memory:", 1).await;
    let id = ingest(&store, "k1", "X").await;
    assert_eq!(
        pending_once_at_most(&store, 0).await,
        0,
        "nothing moved the pending row"
    );
    assert_eq!(count(&store, false).await, 1);
    assert_eq!(listed(&store, "t", "X", None, 10).await, vec![id]);
}

#[tokio::test]
async fn the_writer_moves_pending_rows_once_flush_rows_are_pending() {
    let store = migrated("sqlite::memory:", 1).await;
    // Back to back, 256 at a time (never idle for long): the move is the threshold's.
    let total = FLUSH_ROWS + 512;
    for chunk in 0..total / 256 {
        let ingests = (0..256).map(|i| {
            let n = chunk * 256 + i;
            store.ingest(jira_event(&format!("k{n}"), &format!("T{}", n % 300)))
        });
        futures_util::future::join_all(ingests).await;
    }
    // The step after the batch that crossed the threshold came before the later batches
    // were answered (the writer never idled: an idle move would come only after 1 s).
    let indexed = count(&store, false).await;
    assert!(
        indexed > 0,
        "nothing moved into the index after {total} events"
    );
    // The move goes on whenever the writer has nothing to write, and ends by deleting
    // what it moved from the pending table.
    let pending = pending_once_at_most(&store, FLUSH_ROWS as i64 - 1).await;
    assert!(
        pending < FLUSH_ROWS as i64,
        "{pending} rows still pending after {total} events"
    );
    let listed = listed(&store, "t", "T7", None, 1000).await;
    assert_eq!(listed.len(), (0..total).filter(|n| n % 300 == 7).count());
}

#[tokio::test]
async fn rows_an_earlier_process_left_pending_move_at_the_first_idle_moment() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("left.db").display());
    let store = migrated(&url, 1).await;
    let mut x = vec![
        ingest(&store, "k1", "X").await,
        ingest(&store, "k2", "X").await,
    ];
    let y = ingest(&store, "k3", "Y").await;
    drop(store);
    // Let its writer see that the store is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // As a crash in the middle of a move leaves them: every row pending, one also indexed.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for sql in [
        "DELETE FROM event_tickets",
        "DELETE FROM event_tickets_pending",
        "INSERT INTO event_tickets_pending (ticket, event_id) \
         SELECT ticket, id FROM events ORDER BY id",
        "INSERT INTO event_tickets (ticket, event_id) \
         SELECT ticket, id FROM events ORDER BY id LIMIT 1",
    ] {
        sqlx::query(sql).execute(&mut raw).await.unwrap();
    }
    raw.close().await.unwrap();

    // No new webhook comes: the new process's writer moves them anyway.
    let store = migrated(&url, 1).await;
    assert_eq!(
        pending_once_at_most(&store, 0).await,
        0,
        "the rows left pending never moved"
    );
    assert_eq!(count(&store, false).await, 3);
    x.reverse();
    assert_eq!(listed(&store, "t", "X", None, 10).await, x);
    assert_eq!(listed(&store, "t", "Y", None, 10).await, vec![y]);
}

#[tokio::test]
async fn a_move_is_taken_in_steps_and_readers_find_every_event_meanwhile() {
    // A file, so that reads have their own connections while the test holds the write
    // one (the writer cannot take a step of its own meanwhile).
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("steps.db").display());
    let store = migrated(&url, 2).await;
    // Two whole steps and a few rows more.
    let total = 4_100;
    assert!(total > 2 * STEP_ROWS as usize && total < 3 * STEP_ROWS as usize);
    let mut t7 = Vec::new();
    for chunk in 0..total / 100 {
        let ingests = (0..100).map(|i| {
            let n = chunk * 100 + i;
            store.ingest(jira_event(&format!("k{n}"), &format!("T{}", n % 50)))
        });
        let ids = futures_util::future::join_all(ingests).await;
        for (i, outcome) in ids.into_iter().enumerate() {
            if (chunk * 100 + i) % 50 == 7 {
                t7.push(outcome.unwrap().event_id());
            }
        }
    }
    let t7 = newest_first(t7);
    let mut conn = store.write.acquire().await.unwrap();
    let mut pending = Pending::default();
    // First step: the rows are copied aside, nothing is indexed yet.
    pending.step(&mut conn).await;
    assert!(pending.moving());
    assert_eq!(count(&store, false).await, 0);
    // Each next step indexes one slice, in ticket order; all rows stay pending meanwhile,
    // and a reader finds each event once.
    for slice in 1..=3 {
        pending.step(&mut conn).await;
        let indexed = count(&store, false).await;
        assert_eq!(indexed, (slice * STEP_ROWS).min(total as i64));
        assert_eq!(count(&store, true).await, total as i64);
        assert_eq!(listed(&store, "t", "T7", None, 1000).await, t7);
    }
    // Then the pending rows go, DELETE_ROWS at a time.
    pending.step(&mut conn).await;
    assert!(!pending.moving());
    assert_eq!(count(&store, true).await, 0);
    assert_eq!(count(&store, false).await, total as i64);
    assert_eq!(listed(&store, "t", "T7", None, 1000).await, t7);
}
