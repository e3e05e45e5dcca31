//! Store load check: durable ingest throughput through the SQLite group commit (or a
//! PostgreSQL URL), then the cost of `claim_due` with the whole backlog pending.
//!
//! ```text
//! cargo run --release --example store_load -- [EVENTS] [CONCURRENCY] [STORE_URL]
//! ```
//! Defaults: 100000 events, 512 concurrent ingesters, a SQLite file in a temp folder. Each
//! event carries a 2 KB body and one delivery on its own ticket. Figures go to
//! `benches/README.md`.

use std::sync::Arc;
use std::time::Instant;

use itsm_bridge::domain::{
    EventId, NewDelivery, NewEvent, OrangeCall, OrangeOp, SourceName, Target, TenantId, TicketKey,
};
use itsm_bridge::store::Store;
use itsm_bridge::store::postgres::PgStore;
use itsm_bridge::store::sqlite::SqliteStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let events: usize = args.get(1).map_or(Ok(100_000), |s| s.parse())?;
    let concurrency: usize = args.get(2).map_or(Ok(512), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let url = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("load.db").display()));
    let store: Arc<dyn Store> = if url.starts_with("postgres") {
        Arc::new(PgStore::connect(&url, 16).await?)
    } else {
        Arc::new(SqliteStore::open(&url, 4).await?)
    };
    store.migrate().await?;

    let tenant = TenantId::parse("load")?;
    let source = SourceName::parse("servicenow")?;
    let body = bytes::Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(2040)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (store, tenant, source, body) =
            (store.clone(), tenant.clone(), source.clone(), body.clone());
        tasks.spawn(async move {
            let mut i = w;
            while i < events {
                let ticket = TicketKey::new(&tenant, &source, &format!("INC{i}"));
                let target = Target::Orange(OrangeCall {
                    op: OrangeOp::CreateIncident,
                    body: serde_json::json!({ "n": i }),
                    external_ref: None,
                    lookups: vec![],
                });
                let e = NewEvent {
                    id: EventId::new(),
                    tenant: tenant.clone(),
                    source: source.clone(),
                    dedupe_key: format!("k{i}"),
                    ticket: ticket.clone(),
                    event_type: "insert".into(),
                    body: body.clone(),
                    headers: vec![("content-type".into(), "application/json".into())],
                    received_at: time::OffsetDateTime::now_utc(),
                    disposition: Default::default(),
                    ticket_number: None,
                    routing: Default::default(),
                    deliveries: vec![NewDelivery { ticket, target }],
                };
                store.ingest(e).await?;
                i += concurrency;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} ingest: {events} events, {concurrency} concurrent: {secs:.2}s = {:.0} events/s",
        store.backend(),
        events as f64 / secs
    );

    let now = time::OffsetDateTime::now_utc();
    let stats = store.queue_stats().await?;
    let t = Instant::now();
    let mut claimed = 0;
    for _ in 0..100 {
        claimed += store
            .claim_due("load", now, now + time::Duration::minutes(5), 32)
            .await?
            .len();
    }
    println!(
        "claim_due with {} pending: 100 claims of 32 = {claimed} deliveries in {:.1} ms ({:.2} ms per claim)",
        stats.pending,
        t.elapsed().as_secs_f64() * 1e3,
        t.elapsed().as_secs_f64() * 10.0
    );
    Ok(())
}
