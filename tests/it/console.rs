//! The console over plain HTTP (the browser tests are `console_browser.rs`): signing in sets
//! a strict, HttpOnly session cookie and never puts the token in a URL; forms need the
//! session's CSRF token and a same-site origin; a scoped viewer sees only its tenant and its
//! forged actions are refused. Sessions live in the store: one started on a gateway is known
//! to another on the same database (SQLite file or PostgreSQL), sign-out on one ends it on
//! both, and a session whose token is no longer configured as it was is refused.

use itsm_bridge::domain::DeliveryState;

use crate::support::TestApp;
use crate::support::admin::{
    ACME_OPERATOR, ACME_VIEWER, ADMIN, dead_letter_each, on_postgres, spawn_roles,
};
use crate::support::console::{Console, FORM, form};

#[tokio::test]
async fn signing_in_needs_a_known_token_and_is_audited_and_pages_need_the_session() {
    let app = spawn_roles(None).await;
    let r = reqwest::Client::new()
        .post(app.url("/console/sign-in"))
        .header("content-type", FORM)
        .body(form(&[("token", "not-a-token-of-ours")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(r.text().await.unwrap().contains("not known"));

    let c = Console::sign_in(&app, ADMIN).await;
    let (status, page) = c.get("/console").await;
    assert_eq!(status, 200);
    assert!(page.contains("<h2 id=\"t-acme\">acme</h2>") && page.contains("t-globex"));
    assert!(page.contains("Webhooks / min"), "the charts");
    let csrf = c.csrf().await;
    let (status, _) = c.post("/console/sign-out", &[("csrf", &csrf)], None).await;
    assert_eq!(status, 303);
    let (status, _) = c.get("/console").await;
    assert_eq!(status, 303, "signed out: back to the sign-in page");

    let log = app
        .store
        .audit_log(&itsm_bridge::store::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(actions, [("admin", "sign-out"), ("admin", "sign-in")]);
    app.stop().await;
}

#[tokio::test]
async fn console_forms_need_the_session_s_csrf_token_and_a_same_site_origin() {
    let app = spawn_roles(None).await;
    let c = Console::sign_in(&app, ADMIN).await;
    let csrf = c.csrf().await;
    let (status, page) = c.post("/console/reload", &[], None).await;
    assert_eq!(status, 403, "{page}");
    let (status, _) = c.post("/console/reload", &[("csrf", "forged")], None).await;
    assert_eq!(status, 403);
    let (status, _) = c
        .post(
            "/console/reload",
            &[("csrf", &csrf)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(status, 403);
    let origin = format!("http://{}", app.addr);
    let (status, page) = c
        .post("/console/reload", &[("csrf", &csrf)], Some(&origin))
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Reloaded:"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_scoped_viewer_sees_only_its_tenant_in_the_console_and_its_forged_actions_are_refused() {
    let app = spawn_roles(None).await;
    let (acme, globex) = dead_letter_each(&app).await;
    let globex_event = app
        .store
        .delivery(globex)
        .await
        .unwrap()
        .unwrap()
        .event_id
        .unwrap();
    let c = Console::sign_in(&app, ACME_VIEWER).await;

    let (_, overview) = c.get("/console").await;
    assert!(overview.contains("t-acme") && !overview.contains("t-globex"));
    let (_, dead) = c.get("/console/dead-letters").await;
    assert!(
        dead.contains(&format!("<td>{acme}</td>")) && !dead.contains(&format!("<td>{globex}</td>"))
    );
    assert!(
        !dead.contains("Replay chosen"),
        "a viewer is offered no action"
    );
    let (status, _) = c.get(&format!("/console/events/{globex_event}")).await;
    assert_eq!(status, 404);
    let (status, _) = c.get("/console/events?tenant=globex").await;
    assert_eq!(status, 403);
    let (status, _) = c.get("/console/ticket?tenant=globex&name=SUP-1").await;
    assert_eq!(status, 404);

    let csrf = c.csrf().await;
    let id = acme.to_string();
    let fields = [
        ("csrf", csrf.as_str()),
        ("action", "replay"),
        ("id", &id),
        ("confirm", "yes"),
    ];
    let (status, page) = c.post("/console/dead-letters/act", &fields, None).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("viewer"));
    let d = app.store.delivery(acme).await.unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Dead);
    app.stop().await;
}

/// A second gateway on the first one's database, with its config changed by `edit`.
async fn second(first: &TestApp, edit: impl FnOnce(&mut itsm_bridge::config::Config)) -> TestApp {
    let mut config = (*first.config).clone();
    edit(&mut config);
    TestApp::spawn_config(config, tempfile::tempdir().unwrap()).await
}

async fn one_session_across_gateways(store_url: Option<String>) {
    let one = spawn_roles(store_url).await;
    let two = second(&one, |_| {}).await;
    let c = Console::sign_in(&one, ACME_OPERATOR).await;
    let (status, page) = c.on(&two).get("/console").await;
    assert_eq!(status, 200, "signed in on one, known to two: {page}");
    assert!(page.contains("acme-operator"), "{page}");
    // The CSRF token is the session's, wherever it is checked; sign-out ends it everywhere.
    let csrf = c.csrf().await;
    let (status, _) = c
        .on(&two)
        .post("/console/sign-out", &[("csrf", &csrf)], None)
        .await;
    assert_eq!(status, 303);
    for app in [&one, &two] {
        let (status, _) = c.on(app).get("/console").await;
        assert_eq!(status, 303, "signed out on two: back to the sign-in page");
    }
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn a_console_session_started_on_one_gateway_is_known_to_another_on_sqlite() {
    one_session_across_gateways(None).await;
}

#[tokio::test]
async fn a_console_session_started_on_one_gateway_is_known_to_another_on_postgres() {
    on_postgres(
        "a_console_session_started_on_one_gateway_is_known_to_another_on_postgres",
        one_session_across_gateways,
    )
    .await;
}

#[tokio::test]
async fn a_session_whose_token_was_removed_or_changed_is_refused() {
    let one = spawn_roles(None).await;
    let operator = Console::sign_in(&one, ACME_OPERATOR).await;
    let viewer = Console::sign_in(&one, ACME_VIEWER).await;
    let admin = Console::sign_in(&one, ADMIN).await;
    // The config the gateways now run with: the operator's token gone, the viewer's widened
    // to every tenant, the admin token as it was.
    let two = second(&one, |c| {
        c.admin.tokens.retain(|t| t.name != "acme-operator");
        for t in &mut c.admin.tokens {
            t.tenants = itsm_bridge::config::TenantScope::All;
        }
    })
    .await;
    for (who, c) in [("operator", &operator), ("viewer", &viewer)] {
        let (status, _) = c.on(&two).get("/console").await;
        assert_eq!(status, 303, "the {who}'s session is refused");
        let (status, _) = c.get("/console").await;
        assert_eq!(status, 303, "and ended: the first gateway refuses it too");
    }
    let (status, _) = admin.on(&two).get("/console").await;
    assert_eq!(status, 200, "a session of an unchanged token goes on");
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn an_operator_discards_chosen_parked_events_after_a_confirmation() {
    let app = spawn_roles(None).await;
    let doomed = crate::parked_discard::park(&app, "acme", 1).await;
    let c = Console::sign_in(&app, ACME_OPERATOR).await;
    let (_, page) = c.get("/console/dead-letters").await;
    assert!(page.contains(&doomed) && page.contains("value=\"discard\""));

    let csrf = c.csrf().await;
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("action", "discard"),
        ("event", doomed.as_str()),
    ];
    let (status, page) = c.post("/console/parked/act", &fields, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("Discard 1 parked event(s)"), "{page}");
    let id = itsm_bridge::domain::EventId::parse(&doomed).unwrap();
    let e = app.store.event(id).await.unwrap().unwrap();
    assert!(
        e.discarded.is_none(),
        "nothing happens before the confirmation"
    );

    fields.push(("confirm", "yes"));
    let (status, page) = c.post("/console/parked/act", &fields, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("discarded."), "{page}");
    let e = app.store.event(id).await.unwrap().unwrap();
    assert!(e.discarded.is_some() && e.disposition.parked.is_none());
    let (_, page) = c.get("/console/dead-letters").await;
    assert!(!page.contains(&doomed), "no longer listed as parked");
    let (_, page) = c.get(&format!("/console/events/{doomed}")).await;
    assert!(page.contains("Discarded at"), "{page}");
    app.stop().await;
}
