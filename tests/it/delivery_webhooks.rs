//! The whole way out, through the real app: signed ITSM webhooks are accepted, mapped with the
//! shipped mappings, committed, and delivered by the dispatcher to the Orange simulator; a
//! mapping mistake lands in the dead letters and, once the mapping is fixed and reloaded, an
//! admin replay re-renders and delivers it.

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use itsm_bridge::domain::{OrangeApi, TenantId};
use itsm_bridge::sim::SimOptions;
use serde_json::Value;

use crate::support::*;

async fn itsm_file(headers: HeaderMap) -> Result<&'static str, StatusCode> {
    // The tenant's outbound ServiceNow credentials (sandbox:sandbox in the test config).
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some("Basic c2FuZGJveDpzYW5kYm94") => Ok("traceroute to 10.0.0.1, 30 hops max"),
        _ => Err(StatusCode::UNAUTHORIZED),
    }
}

/// The app on the test config, its Orange pointed at `sim`, its ServiceNow at `itsm`.
async fn app(sim: &str, itsm: &str, mappings: Option<&Path>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_against(dir.path(), sim, mappings, None);
    if let Some(sn) = config.tenants[0].itsm.servicenow.as_mut() {
        sn.base_url = url::Url::parse(itsm).unwrap();
    }
    TestApp::spawn_config(config, dir).await
}

/// An incident as the simulator holds it: body, notes, attachments (metadata, bytes).
type Seen = (Value, Vec<Value>, Vec<(Value, Vec<u8>)>);

fn incident(sim: &itsm_bridge::sim::SimHandle, external: &str) -> Seen {
    let found = incidents_of(sim, external);
    assert_eq!(found.len(), 1, "exactly one incident for {external}");
    let i = &found[0];
    (
        i.body.clone(),
        i.notes.clone(),
        i.attachments
            .iter()
            .map(|a| (a.meta.clone(), a.bytes.to_vec()))
            .collect(),
    )
}

#[tokio::test]
async fn servicenow_insert_update_note_and_attachment_and_jira_create_reach_orange() {
    let sim = itsm_bridge::sim::start(SimOptions::default())
        .await
        .unwrap();
    let files = Router::new().route("/api/now/attachment/{id}/file", get(itsm_file));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let itsm = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, files).await });
    let app = app(&sim.base_url(), &itsm, None).await;

    for f in [
        "incident-insert.json",
        "incident-update-state.json",
        "incident-work-note.json",
    ] {
        let r = app
            .post_acme_servicenow(fixture(&format!("servicenow/{f}")))
            .await;
        assert_eq!(r.status(), 202, "{f}");
    }
    let mut att: Value =
        serde_json::from_slice(&fixture("servicenow/incident-attachment.json")).unwrap();
    att["attachment"]["download_link"] =
        Value::from(format!("{itsm}/api/now/attachment/5f1b/file"));
    let r = app.post_acme_servicenow(att.to_string()).await;
    assert_eq!(r.status(), 202);
    let jira = fixture("jira/cloud-issue-created.json");
    assert_eq!(
        app.post_jira("acme", &jira, ACME_JIRA_SECRET, &[])
            .await
            .status(),
        202
    );
    app.drained().await;

    let (body, notes, atts) = incident(&sim, "INC0010023");
    assert_eq!(
        body["shortDescription"],
        "MPLS link down at Paris HQ - all sites impacted"
    );
    assert_eq!(
        (body["impact"].as_str(), body["urgency"].as_str()),
        (Some("HIGH"), Some("HIGH"))
    );
    assert_eq!(body["priority"], "P2");
    assert_eq!(body["serviceCondition"], "INTERUPTED");
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("On-site team confirms")
    );
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].0["name"], "traceroute-paris.txt");
    assert_eq!(atts[0].1, b"traceroute to 10.0.0.1, 30 hops max");

    let (jbody, _, _) = incident(&sim, "OPS-1287");
    assert_eq!(
        jbody["shortDescription"],
        "OPS-1287: Internet breakout down in Lyon"
    );

    let links = app
        .store
        .list_links(&TenantId::parse("acme").unwrap(), None, 10)
        .await
        .unwrap();
    assert_eq!(links.len(), 2, "{links:?}");
    assert!(links.iter().all(|l| l.api == OrangeApi::Incident));
    app.stop().await;
}

#[tokio::test]
async fn a_mapping_mistake_is_dead_lettered_and_an_admin_replay_after_the_fix_delivers_it() {
    let sim = itsm_bridge::sim::start(SimOptions::default())
        .await
        .unwrap();
    // A copy of the shipped mappings (beside a link to the fixtures their golden cases use).
    let (root, maps) = copy_of_mappings();
    std::os::unix::fs::symlink(repo().join("tests"), root.path().join("tests")).unwrap();
    let file = maps.join("demo/servicenow-incident.yaml");
    let good = std::fs::read_to_string(&file).unwrap();
    // The mistake: a service point Orange does not know (400 code 24) instead of the lookup.
    let start = good
        .find("          servicePoint.id:")
        .expect("lookup rule");
    let end = start + good[start..].find("    stop: true").expect("end of route");
    let bad = format!(
        "{}          servicePoint.id: SP-NOPE\n{}",
        &good[..start],
        &good[end..]
    );
    std::fs::write(&file, &bad).unwrap();
    let app = app(&sim.base_url(), "http://127.0.0.1:9", Some(&maps)).await;

    for f in ["incident-insert.json", "incident-work-note.json"] {
        let r = app
            .post_acme_servicenow(fixture(&format!("servicenow/{f}")))
            .await;
        assert_eq!(r.status(), 202, "{f}");
    }
    let mut dead = Value::Null;
    for _ in 0..200 {
        dead = app.admin_get("/admin/v1/dead-letters").await;
        if dead["dead_letters"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let id = dead["dead_letters"][0]["id"]
        .as_i64()
        .expect("a dead letter");
    let shown = app.admin_get(&format!("/admin/v1/dead-letters/{id}")).await;
    assert_eq!(shown["attempts"][0]["http_status"], 400);
    assert_eq!(shown["attempts"][0]["error_code"], "24");

    // Replaying before the fix fails again at Orange; fix the mapping, reload, replay.
    std::fs::write(&file, &good).unwrap();
    app.admin_post("/admin/v1/reload", 200).await;
    let replay = format!("/admin/v1/dead-letters/{id}/replay");
    let replayed = app.admin_post(&replay, 200).await;
    assert_eq!(replayed["rerendered"], true);
    app.drained().await;
    let (body, notes, _) = incident(&sim, "INC0010023");
    assert!(
        body.get("servicePoint")
            .is_none_or(|sp| sp.get("id") != Some(&Value::from("SP-NOPE")))
    );
    assert_eq!(
        notes.len(),
        1,
        "the note waited for its create, then followed"
    );

    // No longer dead: a 409 as problem+json.
    app.admin_post(&replay, 409).await;
    app.stop().await;
}
