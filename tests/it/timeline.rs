//! A ticket's timeline (`GET /admin/v1/tickets/{tenant}/{ticket}`, `itsm-bridge ticket
//! show`) through the real app against the simulators, on SQLite and on PostgreSQL (when
//! `TEST_DATABASE_URL` is set; SKIPPED otherwise): a ServiceNow incident is created, updated,
//! gets a work note and an echo the mapping skips; Orange works it and adds a note; the
//! poller brings both back. The timeline lists every step in order, found by number, by
//! sys_id and by Orange id.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::servicenow::CustomerIncident;
use crate::support::{TestApp, acme_ticket, eventually, json as json_of, orange, pg, servicenow};

const TOKEN: &str = "test-admin-token";

async fn timeline(app: &TestApp, name: &str) -> reqwest::Response {
    let path = format!("/admin/v1/tickets/acme/{name}");
    app.call_as(TOKEN, Method::GET, &path).await
}

/// The `kind` (and operation, change or disposition) of each entry: a compact story.
fn story(t: &Value) -> Vec<String> {
    t["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let kind = e["kind"].as_str().unwrap_or("?");
            let what = match kind {
                "event" => e["disposition"].as_str(),
                "call" | "write_back" | "attempt" => e["operation"].as_str(),
                "observed" => e["change"].as_str(),
                _ => e["orangeId"].as_str().map(|_| "orange"),
            };
            format!("{kind}:{}", what.unwrap_or("?"))
        })
        .collect()
}

/// Asserts that `want` appears in `got` in this order (other entries may sit in between).
fn in_order(got: &[String], want: &[&str]) {
    let mut rest = got.iter();
    for w in want {
        assert!(
            rest.any(|g| g == w),
            "{w} missing or out of order in the timeline:\n{got:#?}"
        );
    }
}

/// Creates, updates, notes and echoes one incident, lets Orange work it and the poller bring
/// it back, then reads the timeline every way it can be named.
async fn the_whole_story(store_url: &str) -> Story {
    let sim = Sim::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = servicenow::config_yaml(&sim.handle.base_url(), store_url, true, "sandbox");
    let config = servicenow::parse(&yaml);
    let incident = CustomerIncident::open(&sim).await;
    let (sys_id, number) = (incident.sys_id.clone(), incident.number.clone());
    let app = TestApp::spawn_config(config, dir).await;
    let with = |op: &str, n: u32, extra: Value| incident.webhook(op, n, extra);
    servicenow::post(&app, &with("insert", 0, json!({}))).await;
    let ticket = acme_ticket("servicenow", &sys_id);
    let orange_id = app.orange_id(&ticket).await;
    // The update's first attempt meets a 503 (Orange code 5) and is retried.
    sim.control(
        "/_sim/faults/next",
        json!({"kind": "unavailable", "method": "PATCH", "path_prefix": "/incident/b2b/v1/incidents"}),
    )
    .await;
    servicenow::post(
        &app,
        &with(
            "update",
            1,
            json!({"urgency": "1", "changed_fields": "urgency"}),
        ),
    )
    .await;
    servicenow::post(
        &app,
        &with("update", 2, json!({"work_notes": "Rebooted the CPE"})),
    )
    .await;
    servicenow::post(
        &app,
        &with("update", 3, json!({"sys_updated_by": "itsm-bridge"})),
    )
    .await;
    orange::notes_reach(&sim, &orange_id, 1, "the customer note at Orange").await;

    // The poller's first read of the incident, then Orange works it.
    eventually("the poller's first read", async || {
        let t: Value = timeline(&app, &number).await.json().await.ok()?;
        t["entries"]
            .as_array()?
            .iter()
            .any(|e| e["change"] == "first_seen")
            .then_some(())
    })
    .await;
    orange::works(&sim, &orange_id, "Engineer dispatched").await;
    // Done when the status change and the Orange note are written back to ServiceNow.
    let t = eventually(
        "the write-backs of Orange's progress on the timeline",
        async || {
            let t: Value = timeline(&app, &number).await.json().await.ok()?;
            let entries = t["entries"].as_array()?;
            let status = entries.iter().any(|e| e["change"] == "status");
            let written: Vec<&Value> = entries
                .iter()
                .filter(|e| e["kind"] == "write_back")
                .collect();
            let all_done = written.iter().all(|e| e["state"] == "done");
            let updated = entries
                .iter()
                .any(|e| e["operation"] == "update_incident" && e["outcome"] == "success");
            (status && written.len() >= 3 && all_done && updated).then_some(t)
        },
    )
    .await;

    assert_eq!(t["ticket"], ticket.as_str());
    assert_eq!(t["ticketId"], sys_id.as_str());
    assert_eq!(t["numbers"], json!([number]));
    assert_eq!(t["link"]["orange_id"], orange_id.as_str());
    assert_eq!(t["remoteState"]["status"], "IN_PROGRESS");
    let s = story(&t);
    // Each causal chain in order (the chains interleave as the workers ran).
    in_order(
        &s,
        &[
            "event:routed",
            "call:create_incident",
            "attempt:create_incident",
            "link:orange",
            "event:routed",
            "call:update_incident",
            "attempt:update_incident",
            "attempt:update_incident",
        ],
    );
    in_order(
        &s,
        &[
            "link:orange",
            "event:routed",
            "event:routed",
            "call:add_incident_note",
            "attempt:add_incident_note",
        ],
    );
    let events: Vec<&String> = s.iter().filter(|k| k.starts_with("event:")).collect();
    assert_eq!(
        events,
        [
            "event:routed",
            "event:routed",
            "event:routed",
            "event:skipped"
        ],
        "the events in the order they were sent"
    );
    in_order(
        &s,
        &[
            "link:orange",
            "observed:first_seen",
            "write_back:servicenow_patch",
            "observed:status",
            "observed:note",
            "write_back:servicenow_patch",
            "attempt:servicenow_patch",
        ],
    );
    assert_eq!(
        s.iter()
            .filter(|k| *k == "attempt:servicenow_patch")
            .count(),
        3,
        "{s:#?}"
    );
    let entries = t["entries"].as_array().unwrap();
    let create = entries
        .iter()
        .find(|e| e["kind"] == "event")
        .expect("the insert event");
    assert_eq!(create["eventType"], "insert");
    assert_eq!(create["routes"], json!(["create"]));
    assert_eq!(create["calls"], 1);
    let skipped = entries
        .iter()
        .find(|e| e["disposition"] == "skipped")
        .unwrap();
    assert!(
        skipped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("route `echo`")),
        "{skipped}"
    );
    let first = entries.iter().find(|e| e["kind"] == "attempt").unwrap();
    assert_eq!(first["outcome"], "success");
    assert!(first["latencyMs"].is_u64());
    let updates: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "attempt" && e["operation"] == "update_incident")
        .collect();
    assert_eq!(updates.len(), 2, "{updates:#?}");
    assert_eq!(
        (
            &updates[0]["outcome"],
            &updates[0]["httpStatus"],
            &updates[0]["errorCode"]
        ),
        (&json!("retryable"), &json!(503), &json!("5"))
    );
    assert_eq!(
        (&updates[0]["number"], &updates[1]["number"]),
        (&json!(1), &json!(2))
    );
    assert_eq!(updates[1]["outcome"], "success");
    let ats: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = ats.clone();
    sorted.sort_by_key(|a| {
        time::OffsetDateTime::parse(a, &time::format_description::well_known::Rfc3339).unwrap()
    });
    assert_eq!(ats, sorted, "entries are in time order");

    // The same ticket by its sys_id, its Orange id and its full key.
    // (The full key's slashes are percent-encoded in the path.)
    let full = ticket.as_str().replace('/', "%2F");
    for name in [sys_id.as_str(), orange_id.as_str(), full.as_str()] {
        let by: Value = json_of(timeline(&app, name).await, 200).await;
        assert_eq!(by["ticket"], ticket.as_str(), "named {name}");
    }
    // Unknown ticket and tenant: 404 problem+json.
    let p = json_of(timeline(&app, "INC9999999").await, 404).await;
    assert_eq!(p["code"], "not-found");
    let nobody = format!("/admin/v1/tickets/nobody/{number}");
    let r = app.call_as(TOKEN, Method::GET, &nobody).await;
    assert_eq!(json_of(r, 404).await["code"], "unknown-tenant");
    app.stop().await;
    Story {
        yaml,
        number,
        orange_id,
    }
}

/// What the command-line checks need from a story.
struct Story {
    yaml: String,
    number: String,
    orange_id: String,
}

fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
        .arg("ticket")
        .arg("show")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run itsm-bridge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_s_timeline_lists_every_step_in_order_on_sqlite() {
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("gw.db").display());
    let story = the_whole_story(&url).await;

    // The command line reads the same store: an aligned timeline, or the same JSON.
    let config = db.path().join("config.yaml");
    std::fs::write(&config, &story.yaml).unwrap();
    let out = cli(&config, &["acme", &story.number]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("incident {}", story.orange_id)),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("20")).collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(kinds.first(), Some(&"event"), "{text}");
    for k in ["call", "attempt", "link", "observed", "write-back"] {
        assert!(kinds.contains(&k), "no {k} line:\n{text}");
    }
    // Aligned: every step's text starts in the same column.
    // (23 characters of time, two spaces, the kind padded to 10, two spaces.)
    for l in &lines {
        assert!(
            l.len() > 37 && &l[35..37] == "  " && !l[37..].starts_with(' '),
            "not aligned: {l:?}"
        );
    }
    let out = cli(&config, &["acme", &story.orange_id, "--output", "json"]);
    assert!(out.status.success());
    let t: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(t["numbers"], json!([story.number]));

    let out = cli(&config, &["acme", "INC9999999"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no ticket \"INC9999999\""), "{err}");
    let out = cli(&config, &["nobody", &story.number]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tenant \"nobody\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_s_timeline_lists_every_step_in_order_on_postgres() {
    let Some(pg) = pg::Schema::create("timeline", "timeline::postgres").await else {
        return;
    };
    the_whole_story(&pg.url).await;
    pg.drop().await;
}
