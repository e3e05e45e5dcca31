//! The store conformance suite: every case runs against SQLite (a temp file, always) and
//! against PostgreSQL when `TEST_DATABASE_URL` is set (a fresh schema per test, so tests run
//! in parallel); without it the PostgreSQL cases say `SKIPPED` and pass.

use std::sync::Arc;

use itsm_bridge::domain::{
    Attempt, AttemptOutcome, EventId, NewDelivery, NewEvent, OrangeCall, OrangeOp, SourceName,
    Target, TenantId, TicketKey, Timestamp,
};
use itsm_bridge::store::postgres::PgStore;
use itsm_bridge::store::sqlite::SqliteStore;
use itsm_bridge::store::{Finish, Store};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (store, _dir) = super::sqlite().await;
                    super::cases::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = super::postgres(stringify!($name)).await else { return };
                    super::cases::$name(db.store.clone()).await;
                    db.drop_schema().await;
                }
            )*
        }
    };
}

conformance!(
    ingest_of_the_same_dedupe_key_twice_is_a_duplicate_of_the_first_event,
    concurrent_ingest_of_one_key_is_accepted_exactly_once,
    event_body_and_headers_round_trip_byte_exact,
    events_are_listed_newest_first_with_filters_and_deliveries_in_order,
    concurrent_claims_never_hand_out_one_delivery_twice,
    an_expired_lease_makes_a_delivery_claimable_again,
    finish_by_a_non_owner_is_refused_with_lease_lost,
    a_ticket_delivery_waits_until_its_predecessor_is_final,
    retry_reschedules_and_is_not_claimable_before_its_time,
    defer_does_not_count_an_attempt,
    dead_letters_are_listed_replayed_and_discarded,
    links_are_recorded_with_done_and_found_both_ways,
    poller_lease_is_exclusive_and_taken_over_after_expiry,
    commit_poll_is_atomic_and_refused_without_the_lease,
    echoes_are_remembered_until_they_expire,
    heartbeat_counts_live_replicas,
    queue_stats_count_each_state_and_the_oldest_pending,
    concurrent_appends_to_one_ticket_keep_one_head_and_distinct_seqs,
    concurrent_ingests_with_repeated_keys_dedupe_and_keep_each_ticket_in_order,
    appends_racing_with_the_heads_finish_never_strand_a_ticket,
    links_to_check_come_least_recently_checked_first_without_final_ones,
    a_delivery_waiting_for_its_link_is_listed_counted_and_woken_by_a_link_by_hand,
    a_create_delivered_wakes_the_deliveries_waiting_for_its_link,
    purge_removes_finished_work_past_retention_and_keeps_links_dead_letters_and_live_work,
    a_dry_run_purge_counts_what_would_go_and_deletes_nothing,
    a_ticket_s_history_keeps_routes_numbers_attempts_link_and_observations,
    parked_and_unrouted_events_are_kept_with_their_reason_and_filtered,
    a_parked_event_is_settled_once_and_its_calls_go_before_later_waiting_ones,
    a_discarded_parked_event_is_no_longer_parked_nor_replayable_and_goes_as_done,
    audit_entries_are_kept_newest_first_and_filtered_by_tenant,
    a_tenants_activity_counts_events_and_attempts_per_minute_and_its_queue,
    poll_cycles_are_kept_per_tenant_and_replica_latest_first,
);

/// Two replicas (two stores, two pools) on one PostgreSQL database: a key sent to both at
/// once is accepted once, and each ticket's deliveries keep one sequence across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_accept_a_key_once_and_share_each_tickets_sequence() {
    let Some(db) =
        postgres("postgres_replicas_accept_a_key_once_and_share_each_tickets_sequence").await
    else {
        return;
    };
    let other: Arc<dyn Store> =
        Arc::new(PgStore::connect(&db.url, 8).await.expect("second replica"));
    cases::repeated_keys_over(&[db.store.clone(), other]).await;
    db.drop_schema().await;
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("sub/dir/store.db").display());
    let store = SqliteStore::open(&url, 4).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    store.migrate().await.expect("migrations are idempotent");
    (Arc::new(store), dir)
}

pub(crate) struct PgTest {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) url: String,
    schema: crate::support::pg::Schema,
}

impl PgTest {
    pub(crate) async fn drop_schema(self) {
        self.schema.drop().await;
    }
}

/// A store on a fresh schema of the `TEST_DATABASE_URL` database, or `None` (skipped).
pub(crate) async fn postgres(test: &str) -> Option<PgTest> {
    let name = format!("store_conformance::postgres::{test}");
    let schema = crate::support::pg::Schema::create("conformance", &name).await?;
    let store = PgStore::connect(&schema.url, 8)
        .await
        .expect("open postgres");
    store.migrate().await.expect("migrate postgres");
    store.migrate().await.expect("migrations are idempotent");
    Some(PgTest {
        store: Arc::new(store),
        url: schema.url.clone(),
        schema,
    })
}

fn tenant() -> TenantId {
    TenantId::parse("acme").expect("tenant")
}

fn ticket(n: &str) -> TicketKey {
    TicketKey::new(&tenant(), &SourceName::parse("jira").expect("source"), n)
}

fn call(op: OrangeOp, note: &str) -> Target {
    Target::Orange(OrangeCall {
        op,
        body: serde_json::json!({ "note": note }),
        external_ref: None,
        lookups: vec![],
    })
}

fn delivery(t: &TicketKey, note: &str) -> NewDelivery {
    NewDelivery {
        ticket: t.clone(),
        target: call(OrangeOp::AddIncidentNote, note),
    }
}

/// "Now", truncated to the millisecond the store keeps.
fn now() -> Timestamp {
    let t = Timestamp::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .expect("valid nanosecond")
}

fn event(key: &str, t: &TicketKey, at: Timestamp, deliveries: Vec<NewDelivery>) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        tenant: tenant(),
        source: SourceName::parse("jira").expect("source"),
        dedupe_key: key.to_owned(),
        ticket: t.clone(),
        event_type: "jira:issue_updated".into(),
        body: bytes::Bytes::from_static(br#"{"k":1}"#),
        headers: vec![("x-atlassian-webhook-identifier".into(), key.to_owned())],
        received_at: at,
        ticket_number: None,
        routing: Default::default(),
        deliveries,
        disposition: Default::default(),
    }
}

fn attempt(at: Timestamp, outcome: AttemptOutcome) -> Attempt {
    Attempt {
        at,
        outcome,
        http_status: Some(if outcome == AttemptOutcome::Success {
            201
        } else {
            503
        }),
        error_code: None,
        error: (outcome != AttemptOutcome::Success).then(|| "upstream unavailable".into()),
        latency_ms: 12,
    }
}

fn done() -> Finish {
    Finish::Done {
        link: None,
        echoes: vec![],
        echo_until: None,
    }
}

mod cases;
