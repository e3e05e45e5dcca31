//! ITSM-side reconciliation against the Jira simulator, driven one run at a time next to the
//! running gateway (whose dispatcher delivers what a run ingests): a change whose webhook
//! never came reaches Orange; one whose webhook came is not sent again; a re-run after a
//! restart repairs nothing twice and skips the integration account's own comments.
//! ServiceNow's twin tests are in `roundtrip_reconcile_servicenow.rs`.

use std::path::Path;
use std::sync::Arc;

use itsm_bridge::config::SourceReconcile;
use itsm_bridge::domain::{SourceKind, SourceName, TenantId, TicketKey};
use itsm_bridge::worker::reconcile::{ItsmReconciler, SourceSync, SyncReport};
use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::jira::{self, comment_webhook, created_webhook, post};
use crate::support::{TestApp, acme_ticket, eventually, orange};

async fn boot(sim: &Sim, db: &Path, integration: &str) -> TestApp {
    let config = jira::config_with(&sim.handle.base_url(), db, "", false, integration);
    TestApp::spawn_config(config, tempfile::tempdir().unwrap()).await
}

/// An issue created in Jira (`summary`): the issue and its id.
async fn create(sim: &Sim, summary: &str) -> (Value, String) {
    let issue = jira::create_incident(sim, summary).await;
    let id = issue["id"].as_str().unwrap().to_owned();
    (issue, id)
}

/// An issue created and commented in Jira whose webhooks never came, among `noise` other new
/// issues that make the scan page (2 per page): the issue and its id.
async fn missed_issue(sim: &Sim, noise: usize) -> (Value, String) {
    let (issue, id) = create(sim, "WAN down at Lille").await;
    jira_comment(sim, &id, "Customer: the backup link is down too").await;
    for n in 0..noise {
        jira::create_incident(sim, &format!("noise {n}")).await;
    }
    (issue, id)
}

/// Waits until the missed comment is a note of the Orange incident `orange_id`.
async fn missed_comment_at_orange(sim: &Sim, orange_id: &str) {
    eventually("the comment as an Orange note", async || {
        let texts = sim.orange_note_texts(orange_id).await;
        texts
            .iter()
            .any(|t| t.contains("backup link is down"))
            .then_some(())
    })
    .await;
}

/// One reconciliation run of the tenant `acme`'s `source`, next to the running gateway, with a
/// page of 2 so every run pages through the keyset continuation.
pub async fn reconcile_once(
    app: &TestApp,
    source: &str,
    kind: SourceKind,
    integration: &str,
) -> SyncReport {
    reconcile_with(app, &app.config, source, kind, integration)
        .await
        .unwrap()
}

/// [`reconcile_once`] with the ITSM clients of `config` (the gateway's, changed), answering
/// the run's error.
async fn reconcile_with(
    app: &TestApp,
    config: &itsm_bridge::config::Config,
    source: &str,
    kind: SourceKind,
    integration: &str,
) -> Result<SyncReport, itsm_bridge::worker::reconcile::SyncError> {
    let source = SourceSync {
        tenant: TenantId::parse("acme").unwrap(),
        source: SourceName::parse(source).unwrap(),
        kind,
        integration: Some(integration.to_owned()),
        settings: SourceReconcile {
            interval_secs: 60,
            page_size: 2,
            lookback_secs: 600,
            overlap_secs: 60,
        },
    };
    let r = ItsmReconciler::new(
        app.store.clone(),
        Arc::new(crate::support::itsm_clients(config)),
        app.mappings.clone(),
        vec![source.clone()],
        "test-replica",
    );
    r.sync_source(&source, time::OffsetDateTime::now_utc())
        .await
        .map(|r| r.expect("the lease is free"))
}

async fn run(app: &TestApp, integration: &str) -> SyncReport {
    reconcile_once(app, "jira", SourceKind::Jira, integration).await
}

fn ticket(id: &str) -> TicketKey {
    acme_ticket("jira", id)
}

/// Types of the events stored for an issue, oldest first.
async fn events(app: &TestApp, id: &str) -> Vec<String> {
    let events = app.events_of(&ticket(id)).await;
    events.into_iter().map(|e| e.event_type).collect()
}

/// Successful Orange calls (method, path) the simulator received.
fn orange_writes(sim: &Sim) -> Vec<(String, String)> {
    sim.handle
        .journal(0)
        .into_iter()
        .filter(|e| e.method == "POST" && e.path.starts_with("/incident/") && e.status < 300)
        .map(|e| (e.method, e.path))
        .collect()
}

/// Adds a comment in Jira as the simulator's user (`sandbox`).
async fn jira_comment(sim: &Sim, id: &str, text: &str) -> Value {
    let r = sim
        .itsm(Method::POST, &format!("/rest/api/2/issue/{id}/comment"))
        .json(&json!({"body": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_whose_webhooks_never_came_reaches_orange_after_one_reconciliation() {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    let app = boot(&sim, db.path(), "svc-bridge").await;
    // Created and commented in Jira; Jira Data Center dropped both webhooks.
    let (issue, id) = missed_issue(&sim, 3).await;

    let rep = run(&app, "svc-bridge").await;
    // The issue, the three others and the simulator's seeded one.
    assert_eq!((rep.issues, rep.ingested), (5, 6), "{rep:?}");
    assert!(rep.pages >= 3, "{rep:?}");
    assert_eq!(
        events(&app, &id).await,
        ["jira:issue_created", "comment_created"]
    );

    let orange_id = app.orange_id(&ticket(&id)).await;
    let v = sim
        .orange_get(&format!("/incident/b2b/v1/incidents/{orange_id}"))
        .await;
    assert_eq!(v["externalReference"], issue["key"]);
    missed_comment_at_orange(&sim, &orange_id).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_whose_webhooks_came_produces_no_second_orange_call() {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    let app = boot(&sim, db.path(), "svc-bridge").await;
    let (_, id) = create(&sim, "WAN down at Nantes").await;
    let comment = jira_comment(&sim, &id, "Customer: rebooted the CPE").await;
    post(&app, &created_webhook(&jira::issue(&sim, &id).await)).await;
    post(&app, &comment_webhook(&comment)).await;
    let orange_id = app.orange_id(&ticket(&id)).await;
    orange::notes_reach(&sim, &orange_id, 1, "the note at Orange").await;
    let before = orange_writes(&sim);
    assert_eq!(before.len(), 2, "{before:?}");

    let stored = events(&app, &id).await;
    let rep = run(&app, "svc-bridge").await;
    assert_eq!(rep.duplicates, 0, "{rep:?}");
    assert_eq!(events(&app, &id).await, stored, "nothing new for the issue");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(orange_writes(&sim), before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconciliation_rerun_after_a_restart_repairs_nothing_twice_nor_the_gateways_own_comments()
 {
    let sim = Sim::start().await;
    let db = tempfile::tempdir().unwrap();
    // The simulator's user is the integration account here: its comments are the gateway's.
    let app = boot(&sim, db.path(), "sandbox").await;
    let (_, id) = create(&sim, "WAN down at Brest").await;
    run(&app, "sandbox").await;
    assert_eq!(events(&app, &id).await, ["jira:issue_created"]);
    app.orange_id(&ticket(&id)).await;

    app.stop().await;
    let app = boot(&sim, db.path(), "sandbox").await;
    let rep = run(&app, "sandbox").await;
    assert_eq!((rep.ingested, rep.duplicates), (0, 0), "{rep:?}");
    assert!(
        rep.issues >= 1,
        "the watermark's minute is read again: {rep:?}"
    );

    // A comment by the integration account (an Orange note written back) is an echo.
    jira_comment(&sim, &id, "[Orange 2601M00001] Engineer dispatched").await;
    let rep = run(&app, "sandbox").await;
    assert_eq!((rep.ingested, rep.echoes), (0, 1), "{rep:?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let creates: Vec<_> = orange_writes(&sim)
        .into_iter()
        .filter(|(_, p)| p == "/incident/b2b/v1/incidents")
        .collect();
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert!(
        orange_writes(&sim)
            .iter()
            .all(|(_, p)| !p.ends_with("/notes")),
        "the gateway's own comment went to Orange"
    );
    app.stop().await;
}

/// The gateway's config with the Jira site declared as `deployment`.
fn with_deployment(
    app: &TestApp,
    deployment: itsm_bridge::config::JiraDeployment,
) -> itsm_bridge::config::Config {
    let mut config = (*app.config).clone();
    for t in &mut config.tenants {
        if let Some(j) = &mut t.itsm.jira {
            j.deployment = deployment;
        }
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jira_cloud_site_is_reconciled_through_search_jql_page_token_by_page_token() {
    use itsm_bridge::config::JiraDeployment;
    let sim = Sim::start().await;
    sim.control("/_sim/inferred", json!({"jira_site": "cloud"}))
        .await;
    let db = tempfile::tempdir().unwrap();
    let app = boot(&sim, db.path(), "svc-bridge").await;
    let (_, id) = missed_issue(&sim, 4).await;

    // Declared Data Center, the Cloud site refuses the old search: the run fails, saying so.
    let dc = with_deployment(&app, JiraDeployment::DataCenter);
    let err = reconcile_with(&app, &dc, "jira", SourceKind::Jira, "svc-bridge")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("410"), "{err}");

    let since = sim.handle.journal(0).last().map_or(0, |e| e.seq);
    let cloud = with_deployment(&app, JiraDeployment::Cloud);
    let rep = reconcile_with(&app, &cloud, "jira", SourceKind::Jira, "svc-bridge")
        .await
        .unwrap();
    // Six issues (five made here and the seeded one), two a page: three pages at least.
    assert_eq!((rep.issues, rep.ingested), (6, 7), "{rep:?}");
    assert!(rep.pages >= 3, "{rep:?}");
    let searches: Vec<_> = sim
        .handle
        .journal(since)
        .into_iter()
        .filter(|e| e.path.contains("/search"))
        .collect();
    assert!(
        searches
            .iter()
            .all(|e| e.path == "/rest/api/2/search/jql" && e.status == 200),
        "{searches:?}"
    );
    let tokens = searches
        .iter()
        .filter(|e| {
            e.query
                .as_deref()
                .is_some_and(|q| q.contains("nextPageToken="))
        })
        .count();
    assert!(
        tokens >= 2,
        "pages after the first carry the token: {searches:?}"
    );
    assert_eq!(
        events(&app, &id).await,
        ["jira:issue_created", "comment_created"]
    );

    let orange_id = app.orange_id(&ticket(&id)).await;
    missed_comment_at_orange(&sim, &orange_id).await;
    // A second run repairs nothing.
    let again = reconcile_with(&app, &cloud, "jira", SourceKind::Jira, "svc-bridge")
        .await
        .unwrap();
    assert_eq!(again.ingested, 0, "{again:?}");
    app.stop().await;
}
