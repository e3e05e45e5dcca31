//! Migrations on a store that already holds data (`sqlite::memory:` is private to one
//! connection, so each test runs on a file).

use std::borrow::Cow;

use crate::domain::{DeliveryId, OrangeCall, OrangeOp, Target};
use crate::store::sqlite::SqliteStore;
use crate::store::{AdminStore, DeliveryQueue, Store};

/// Migration 0012 moves each delivery's call to `delivery_calls`: a delivery written before
/// it reads back with the same call, a replay with a new call replaces it, and purging the
/// delivery removes its call.
#[tokio::test]
async fn a_delivery_written_before_0012_keeps_its_call() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqliteStore::open(&url, 1).await.unwrap();
    let mut before = sqlx::migrate!("src/store/migrations/sqlite");
    let kept: Vec<_> = before
        .migrations
        .iter()
        .filter(|m| m.version < 12)
        .cloned()
        .collect();
    before.migrations = Cow::Owned(kept);
    before.run(&store.write).await.unwrap();
    let call = Target::Orange(OrangeCall {
        op: OrangeOp::CreateIncident,
        body: serde_json::json!({ "shortDescription": "down" }),
        external_ref: None,
        lookups: vec![],
    });
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO deliveries (tenant, event_id, ticket, seq, target, state, is_head, \
         attempts, next_attempt_at, created_at, finished_at) \
         VALUES ('acme', NULL, 'acme/jira/1', 1, ?, 'dead', 0, 3, 1, 1, 2) RETURNING id",
    )
    .bind(serde_json::to_string(&call).unwrap())
    .fetch_one(&store.write)
    .await
    .unwrap();

    store.migrate().await.unwrap();
    let d = store.delivery(DeliveryId(id)).await.unwrap().unwrap();
    let Target::Orange(c) = &d.target else {
        panic!("not an Orange call: {:?}", d.target)
    };
    assert_eq!(c.op, OrangeOp::CreateIncident);
    assert_eq!(c.body["shortDescription"], "down");

    let mut fixed = c.clone();
    fixed.body["shortDescription"] = "fixed".into();
    let now = time::OffsetDateTime::now_utc();
    let replayed = store.replay(DeliveryId(id), Some(Target::Orange(fixed)), now);
    assert!(replayed.await.unwrap());
    let d = store.delivery(DeliveryId(id)).await.unwrap().unwrap();
    let Target::Orange(c) = &d.target else {
        unreachable!()
    };
    assert_eq!(c.body["shortDescription"], "fixed");

    sqlx::query("DELETE FROM deliveries WHERE id = ?")
        .bind(id)
        .execute(&store.write)
        .await
        .unwrap();
    let calls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM delivery_calls")
        .fetch_one(&store.write)
        .await
        .unwrap();
    assert_eq!(calls, 0, "a delivery's call goes with it");
}
