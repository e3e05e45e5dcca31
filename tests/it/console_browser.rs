//! The console in a real headless Chromium (Debian's `chromium` and `chromedriver`, driven
//! over WebDriver by `support::webdriver`; SKIPPED without them). An operator signs in,
//! replays a dead letter and sees it delivered to the Orange simulator, finds the ticket by
//! its Jira key and sees the Orange call on its timeline, and finds the replay in the audit
//! log; a tenant-scoped token sees only its tenant; the playground shows the calls for a
//! pasted event and the problems of a broken mapping.
//!
//! `ITSM_BRIDGE_SCREENSHOTS=docs/console cargo test --test it console_browser` refreshes
//! the screenshots of `docs/console.md`.

use itsm_bridge::domain::DeliveryState;
use itsm_bridge::sim::SimOptions;
use serde_json::json;

use crate::support::admin::{
    ACME_VIEWER, ADMIN, dead_letter_each, kill_due, post_issue, roles_config_in, spawn_roles,
};
use crate::support::webdriver::Browser;
use crate::support::{TestApp, eventually, fixture};

/// A browser and a gateway on the roles config; `None` (the test is skipped) without a
/// WebDriver.
async fn start(test: &str) -> Option<(Browser, TestApp)> {
    let b = Browser::start(test).await?;
    Some((b, spawn_roles(None).await))
}

/// [`start`], then signed in with `token`; also the gateway's base URL.
async fn signed_in(test: &str, token: &str) -> Option<(Browser, TestApp, String)> {
    let (b, app) = start(test).await?;
    let base = app.url("");
    b.sign_in(&base, token).await;
    Some((b, app, base))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_dead_letter_finds_its_ticket_by_number_and_sees_it_in_the_audit_log()
{
    let Some((b, app)) = start("console_browser::an_operator_replays").await else {
        return;
    };
    // A dead letter made while no dispatcher ran; then the gateway runs against the simulator.
    post_issue(&app, "acme").await;
    let dead = kill_due(&app).await;
    let dir = app.stop_keeping_dir().await;
    let sim = itsm_bridge::sim::start(SimOptions::default())
        .await
        .expect("simulator");
    let config = roles_config_in(dir.path(), Some(&sim.base_url()), "");
    let app = TestApp::spawn_config(config, dir).await;
    let base = app.url("");
    let acme = dead[0];

    b.sign_in(&base, ADMIN).await;
    assert!(b.text("main").await.contains("acme"));
    b.screenshot("overview").await;

    b.goto(&format!("{base}/console/dead-letters?tenant=acme"))
        .await;
    b.screenshot("dead-letters").await;
    let check = b.find(&format!("#c-{acme}")).await;
    b.click(&check).await;
    let replay = b.find("button[value=replay]").await;
    b.click_to_load(&replay).await;
    assert!(b.text("main").await.contains("Replay 1 dead letter(s)"));
    let confirm = b.find("button[value=yes]").await;
    b.click_to_load(&confirm).await;
    assert!(b.text("main").await.contains(&format!("#{acme} replayed")));
    eventually("the replayed letter is delivered", async || {
        let d = app.store.delivery(acme).await.unwrap().unwrap();
        (d.state == DeliveryState::Done).then_some(())
    })
    .await;

    b.goto(&format!("{base}/console/search")).await;
    let q = b.find("#f-q").await;
    b.type_into(&q, "OPS-1287").await;
    let go = b.find("form[role=search] button").await;
    b.click_to_load(&go).await;
    assert!(
        b.url().await.contains("/console/ticket?"),
        "one match opens its timeline"
    );
    let timeline = b.text("main").await;
    assert!(
        timeline.contains("create_incident"),
        "the Orange call: {timeline}"
    );
    assert!(
        timeline.contains("400") && timeline.contains("success"),
        "both attempts: {timeline}"
    );
    b.screenshot("timeline").await;

    b.goto(&format!("{base}/console/audit")).await;
    let audit = b.text("main").await;
    assert!(
        audit.contains("replay-dead-letter") && audit.contains(&acme.to_string()),
        "{audit}"
    );
    b.screenshot("audit").await;

    b.goto(&format!("{base}/console/events")).await;
    b.screenshot("events").await;
    let event = b.find("main table a[href^='/console/events/']").await;
    b.click_to_load(&event).await;
    assert!(b.text("main").await.contains("Body"));
    b.screenshot("event").await;
    for (page, shot) in [("links", "links"), ("reload", "mappings")] {
        b.goto(&format!("{base}/console/{page}")).await;
        assert_eq!(b.count("main h1").await, 1);
        b.screenshot(shot).await;
    }
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_scoped_token_sees_only_its_tenant_in_the_browser() {
    let test = "console_browser::a_tenant_scoped_token";
    let Some((b, app, base)) = signed_in(test, ACME_VIEWER).await else {
        return;
    };
    dead_letter_each(&app).await;
    assert_eq!(b.count("#t-acme").await, 1);
    assert_eq!(b.count("#t-globex").await, 0);
    b.goto(&format!("{base}/console/dead-letters")).await;
    assert_eq!(
        b.count("main input[type=checkbox]").await,
        0,
        "a viewer gets no actions"
    );
    assert!(!b.text("main").await.contains("globex"));
    b.goto(&format!("{base}/console/events")).await;
    let events = b.text("main table").await;
    assert!(
        events.contains("acme") && !events.contains("globex"),
        "{events}"
    );
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_shows_the_calls_for_a_pasted_event_and_the_problems_of_a_broken_mapping() {
    let Some((b, app, base)) = signed_in("console_browser::the_playground", ADMIN).await else {
        return;
    };
    b.goto(&format!("{base}/console/playground?source=acme/jira"))
        .await;
    let event = String::from_utf8(fixture("jira/cloud-issue-created.json")).unwrap();
    b.script(
        "document.getElementById('f-event').value = arguments[0];",
        vec![json!(event)],
    )
    .await;
    let run = b.find("button[value=yes][name=run]").await;
    b.click_to_load(&run).await;
    let result = b.text("main").await;
    assert!(result.contains("Call 1 of"), "{result}");
    assert!(result.contains("create_incident"), "{result}");
    assert!(result.contains("passes"), "the golden cases run: {result}");
    b.screenshot("playground").await;

    b.script(
        "const m = document.getElementById('f-mapping'); m.value = m.value.replace('routes:', 'routez:');",
        vec![],
    )
    .await;
    let run = b.find("button[value=yes][name=run]").await;
    b.click_to_load(&run).await;
    let result = b.text("main").await;
    assert!(result.contains("The mapping does not compile"), "{result}");
    assert!(
        result.contains("routez"),
        "the problem names the key: {result}"
    );
    b.screenshot("playground-error").await;
    assert_eq!(
        app.store.queue_stats().await.unwrap().pending,
        0,
        "nothing was queued"
    );
    drop(b);
    app.stop().await;
}
