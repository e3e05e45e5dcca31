//! The group-commit writer against a real SQLite store: batches, refusals and durability.

use tokio::sync::oneshot;

use super::*;
use crate::domain::{Attempt, DeliveryId, EventId, NewDelivery, OrangeCall, OrangeOp, Target};
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::ingest::ingest;
use crate::store::sqlite::test_events::jira_event;
use crate::store::{DeliveryQueue, Finish, Store};

fn event(key: &str, ticket: &str) -> PreparedEvent {
    let target = Target::Orange(OrangeCall {
        op: OrangeOp::UpdateIncident,
        body: serde_json::json!({}),
        external_ref: None,
        lookups: vec![],
    });
    let mut event = jira_event(key, ticket);
    event.deliveries = vec![NewDelivery {
        ticket: event.ticket.clone(),
        target,
    }];
    PreparedEvent::new(event).unwrap()
}

async fn ingest_batch(pool: &SqlitePool, events: &[&PreparedEvent]) -> Vec<IngestOutcome> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let cache = Cache::default();
    let out = ingest(&mut tx, &cache, events).await.unwrap();
    cache.clear(&Direct::lock(&mut tx).await.unwrap());
    tx.commit().await.unwrap();
    out
}

#[tokio::test]
async fn one_batch_dedupes_within_itself_and_orders_each_ticket() {
    let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
    store.migrate().await.unwrap();
    let (a, b, c, d) = (
        event("k1", "X"),
        event("k1", "X"),
        event("k2", "X"),
        event("k3", "Y"),
    );
    let out = ingest_batch(&store.write, &[&a, &b, &c, &d]).await;
    let first = EventId::parse(&a.id).unwrap();
    assert_eq!(out[0], IngestOutcome::Accepted(first));
    assert_eq!(out[1], IngestOutcome::Duplicate(first));
    assert!(!out[2].is_duplicate() && !out[3].is_duplicate());
    let rows: Vec<(String, i64, bool)> =
        sqlx::query_as("SELECT ticket, seq, is_head FROM deliveries ORDER BY id")
            .fetch_all(&store.write)
            .await
            .unwrap();
    let rows: Vec<_> = rows.iter().map(|(t, s, h)| (&t[7..], *s, *h)).collect();
    assert_eq!(rows, vec![("X", 1, true), ("X", 2, false), ("Y", 1, true)]);
    // The next batch continues each ticket's sequence behind what is queued.
    let e = event("k4", "X");
    ingest_batch(&store.write, &[&e]).await;
    let (seq, head): (i64, bool) =
        sqlx::query_as("SELECT seq, is_head FROM deliveries ORDER BY id DESC LIMIT 1")
            .fetch_one(&store.write)
            .await
            .unwrap();
    assert_eq!((seq, head), (3, false));
}

#[tokio::test]
async fn an_event_the_database_refuses_fails_alone_and_its_neighbours_commit() {
    let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
    store.migrate().await.unwrap();
    let (a, mut b, c) = (event("k1", "X"), event("k2", "X"), event("k3", "Y"));
    // Another dedupe key but the first event's id: the primary key refuses it.
    b.id = a.id.clone();
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    for e in [a, b, c] {
        let (reply, rx) = oneshot::channel();
        batch.push(Job::Ingest(Box::new(e), reply));
        waiting.push(rx);
    }
    let mut conn = store.write.acquire().await.unwrap();
    let cache = Cache::default();
    answer(write_batch(&mut conn, &cache, &mut batch).await);
    cache.clear(&Direct::lock(&mut conn).await.unwrap());
    drop(conn);
    let mut got = Vec::new();
    for rx in waiting {
        got.push(rx.await.unwrap());
    }
    assert!(
        matches!(got[0], Ok(IngestOutcome::Accepted(_))),
        "{:?}",
        got[0]
    );
    assert!(
        matches!(&got[1], Err(StoreError::Unavailable(m)) if m.contains("UNIQUE") && m.contains("INSERT INTO events")),
        "{:?}",
        got[1]
    );
    assert!(
        matches!(got[2], Ok(IngestOutcome::Accepted(_))),
        "{:?}",
        got[2]
    );
    // Nothing of the refused event is left: one delivery per committed event, X's at seq 1.
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT ticket, seq FROM deliveries ORDER BY id")
        .fetch_all(&store.write)
        .await
        .unwrap();
    let rows: Vec<_> = rows.iter().map(|(t, s)| (&t[7..], *s)).collect();
    assert_eq!(rows, vec![("X", 1), ("Y", 1)]);
}

fn done() -> Finish {
    Finish::Done {
        link: None,
        echoes: vec![],
        echo_until: None,
    }
}

fn attempt() -> Attempt {
    Attempt {
        at: time::OffsetDateTime::UNIX_EPOCH,
        outcome: crate::domain::AttemptOutcome::Success,
        http_status: Some(201),
        error_code: None,
        error: None,
        latency_ms: 1,
    }
}

fn finish_job(id: DeliveryId, owner: &str) -> Job {
    let job = FinishJob {
        id,
        owner: owner.into(),
        attempt: attempt(),
        finish: done(),
    };
    Job::Finish(Box::new(job), oneshot::channel().0)
}

#[tokio::test]
async fn one_batch_commits_events_and_outcomes_and_refuses_a_lost_lease_alone() {
    let store = SqliteStore::open("sqlite::memory:", 1).await.unwrap();
    store.migrate().await.unwrap();
    let first = event("k1", "X");
    ingest_batch(&store.write, &[&first]).await;
    let now = time::OffsetDateTime::UNIX_EPOCH + std::time::Duration::from_secs(60);
    let claimed = store
        .claim_due("w1", now, now + std::time::Duration::from_secs(30), 10)
        .await
        .unwrap();
    let id = claimed[0].id;
    // In one batch: the next event of the same ticket, the outcome of the claimed
    // delivery, a finish by a worker that holds no lease, and one of a delivery that
    // does not exist.
    let jobs = vec![
        Job::Ingest(Box::new(event("k2", "X")), oneshot::channel().0),
        finish_job(id, "w1"),
        finish_job(id, "w2"),
        finish_job(DeliveryId(999), "w1"),
    ];
    let mut conn = store.write.acquire().await.unwrap();
    let cache = Cache::default();
    let answers = commit(&mut conn, &cache, &jobs).await.unwrap();
    cache.clear(&Direct::lock(&mut conn).await.unwrap());
    drop(conn);
    assert!(matches!(
        answers[0],
        Answer::Ingested(IngestOutcome::Accepted(_))
    ));
    assert!(matches!(answers[1], Answer::Finished));
    assert!(matches!(
        answers[2],
        Answer::Failed(StoreError::LeaseLost(_))
    ));
    assert!(matches!(
        answers[3],
        Answer::Failed(StoreError::NotFound(_))
    ));
    let rows: Vec<(i64, String, bool)> =
        sqlx::query_as("SELECT seq, state, is_head FROM deliveries ORDER BY seq")
            .fetch_all(&store.write)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![(1, "done".into(), false), (2, "pending".into(), true)],
        "the delivery appended in the batch became the head when the first was done"
    );
    assert_eq!(store.attempts(id).await.unwrap().len(), 1);
}

/// A file-backed store (its pool migrated) and a second writer on its pool whose fsync of
/// the log is `sync`.
async fn writer_with_sync(
    sync: impl FnMut() -> std::io::Result<()> + Send + 'static,
) -> (tempfile::TempDir, SqliteStore, mpsc::Sender<Job>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let store = SqliteStore::open(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let syncer = Syncer::start_with(sync, failed).unwrap();
    let (tx, rx) = mpsc::channel(QUEUE);
    spawn(
        store.write.clone(),
        rx,
        Arc::new(Wal::new(None)),
        Some(syncer),
    )
    .unwrap();
    (dir, store, tx)
}

async fn send_ingest(
    writer: &mpsc::Sender<Job>,
    key: &str,
) -> oneshot::Receiver<StoreResult<IngestOutcome>> {
    let (reply, answer) = oneshot::channel();
    let job = Job::Ingest(Box::new(event(key, "X")), reply);
    writer.send(job).await.ok().unwrap();
    answer
}

#[tokio::test]
async fn a_commit_is_answered_only_after_the_fsync_that_covers_it() {
    let (gate, held) = std::sync::mpsc::channel::<()>();
    let (_dir, store, writer) = writer_with_sync(move || {
        held.recv().map_err(std::io::Error::other)?;
        Ok(())
    })
    .await;
    let mut answer = send_ingest(&writer, "k1").await;
    // The commit happens (the row is visible to readers)…
    let mut committed = false;
    for _ in 0..500 {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&store.read)
            .await
            .unwrap();
        if n == 1 {
            committed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(committed, "the writer never committed the event");
    // …but its waiter hears nothing while the fsync has not returned.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        matches!(answer.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
        "answered before the fsync"
    );
    gate.send(()).unwrap();
    let outcome = answer.await.unwrap().unwrap();
    assert!(matches!(outcome, IngestOutcome::Accepted(_)));
}

#[tokio::test]
async fn a_failed_fsync_fails_its_batch_and_refuses_every_write_after() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let (_dir, _store, writer) = writer_with_sync(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(std::io::Error::other("EIO"))
    })
    .await;
    let first = send_ingest(&writer, "k1").await.await.unwrap();
    assert!(
        matches!(&first, Err(StoreError::Unavailable(m)) if m.contains("fsync") && m.contains("EIO")),
        "{first:?}"
    );
    let second = send_ingest(&writer, "k2").await.await.unwrap();
    assert!(
        matches!(&second, Err(StoreError::Unavailable(m)) if m.contains("restarted")),
        "{second:?}"
    );
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a failed fsync is never retried"
    );
}
