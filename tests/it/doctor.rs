//! `itsm-bridge doctor` against the simulators, the way an operator runs it: in its default
//! setting every check holds (exit 0); with an inferred behaviour switched, or an ITSM right
//! taken from the integration user, the row names it and the exit code is 1 when the config
//! relies on it; and it only ever reads.

use std::path::{Path, PathBuf};
use std::process::Output;

use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::Sim;

/// The embedded default config, pointed at `sim`, written to a temporary file.
fn config_file(sim: &Sim, dir: &Path) -> PathBuf {
    let url = sim.handle.base_url();
    crate::support::cli::default_config_file(dir, "doctor.yaml", Some(&url))
}

async fn doctor(config: &Path, json_out: bool) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_itsm-bridge"));
    cmd.arg("doctor").arg("--config").arg(config);
    if json_out {
        cmd.args(["--output", "json"]);
    }
    cmd.output().await.expect("doctor runs")
}

/// Objects enough for every probe to decide.
async fn populate(sim: &Sim) {
    for (i, p) in ["P2", "P1", "P3"].iter().enumerate() {
        sim.create_incident(
            json!({"shortDescription": "x", "priority": p, "externalReference": format!("R{i}")}),
        )
        .await;
    }
    for r in ["O-1", "O-2"] {
        let order = json!({"customerReference": r});
        let (status, _) = sim
            .orange_send(Method::POST, "/ordering/b2b/v3/requests", &order)
            .await;
        assert_eq!(status, 201);
    }
    let ticket = json!({"description": "down", "externalId": "T-1",
        "relatedEntity": [{"id": "LD000100", "role": "orangeServiceNumber"}]});
    let (status, _) = sim
        .orange_send(
            Method::POST,
            "/troubleticket/wholesale/v1/troubleTickets",
            &ticket,
        )
        .await;
    assert_eq!(status, 200);
    // The oldest incident and order become the last updated: natural order is not update order.
    let first_inc = {
        let d = sim.handle.state.data();
        d.incidents.iter().next().unwrap().body["id"].clone()
    };
    sim.control(
        &format!("/_sim/incidents/{}/advance", first_inc.as_str().unwrap()),
        json!({}),
    )
    .await;
}

/// A populated simulator, the default config pointed at it (a file in the folder returned),
/// and the last journal entry before doctor runs.
async fn setup() -> (Sim, tempfile::TempDir, PathBuf, u64) {
    let sim = Sim::start().await;
    populate(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(&sim, dir.path());
    let since = sim.handle.journal(0).last().map_or(0, |e| e.seq);
    (sim, dir, config, since)
}

fn rows(out: &Output) -> Vec<Value> {
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
        .as_array()
        .unwrap()
        .clone()
}

fn find<'a>(rows: &'a [Value], check: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["check"] == check)
        .unwrap_or_else(|| panic!("no row {check}: {rows:?}"))
}

#[tokio::test]
async fn doctor_passes_on_the_default_simulator_and_names_a_switched_behaviour() {
    let (sim, _dir, config, since) = setup().await;

    let out = doctor(&config, true).await;
    let r = rows(&out);
    assert_eq!(out.status.code(), Some(0), "{r:#?}");
    for check in [
        "orange token",
        "incident status (API key)",
        "trouble_ticket status (API key)",
        "incident filter externalReference=",
        "trouble_ticket filter externalId=",
        "ordering filter customerReference=",
        "incident sort=-lastUpdateDate",
        "incident lastUpdateDate>=",
        "servicenow read incident",
        "servicenow read sys_journal_field",
        "servicenow write incident",
        "jira myself",
        "jira permission ADD_COMMENTS",
        "jira permission TRANSITION_ISSUES",
        "jira transition \"Resolve Issue\"",
        "jira transition \"In Progress\"",
    ] {
        assert_eq!(find(&r, check)["ok"], true, "{check}: {r:#?}");
    }
    assert_eq!(
        find(&r, "incident sort=-lastUpdateDate")["observed"],
        "honoured"
    );

    // Orange stops honouring the poll-back sort: the row says so, the exit code is 1.
    sim.control("/_sim/inferred", json!({"sort_fields": "ignore"}))
        .await;
    let out = doctor(&config, false).await;
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("incident sort=-lastUpdateDate"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("ignored") && line.contains("NO"), "{line}");
    assert!(line.contains("poller.scan"), "{line}");

    // A rejected reference filter is reported; the guard does not rely on it.
    sim.control(
        "/_sim/inferred",
        json!({"sort_fields": "honour", "unknown_filters": "reject"}),
    )
    .await;
    let out = doctor(&config, true).await;
    let r = rows(&out);
    let f = find(&r, "incident filter externalReference=");
    assert!(
        f["observed"].as_str().unwrap().starts_with("rejected"),
        "{f}"
    );
    assert_eq!(out.status.code(), Some(0), "{r:#?}");

    assert_reads_only(&sim, since);
}

/// The token request aside, every call since journal entry `since` was a GET.
fn assert_reads_only(sim: &Sim, since: u64) {
    let writes: Vec<_> = sim
        .handle
        .journal(since)
        .into_iter()
        .filter(|e| e.method != "GET" && e.path != "/oauth/v3/token")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert!(writes.is_empty(), "doctor wrote: {writes:?}");
}

#[tokio::test]
async fn doctor_fails_when_the_itsm_user_lacks_a_right_the_way_back_needs() {
    let (sim, _dir, config, since) = setup().await;
    for (switch, value, check, observed) in [
        (
            "servicenow_rights",
            "read_only",
            "servicenow write incident",
            "read-only",
        ),
        (
            "servicenow_rights",
            "no_journal",
            "servicenow read sys_journal_field",
            "Not authorized",
        ),
        (
            "jira_permissions",
            "no_transition",
            "jira permission TRANSITION_ISSUES",
            "not granted",
        ),
        (
            "jira_permissions",
            "no_transition",
            "jira transition \"Resolve Issue\"",
            "neither a status nor offered",
        ),
    ] {
        let mut switches = json!({"servicenow_rights": "itil", "jira_permissions": "all"});
        switches[switch] = json!(value);
        sim.control("/_sim/inferred", switches).await;
        let out = doctor(&config, true).await;
        let r = rows(&out);
        assert_eq!(out.status.code(), Some(1), "{switch}={value}: {r:#?}");
        let row = find(&r, check);
        assert_eq!(row["ok"], false, "{switch}={value}: {row}");
        assert!(
            row["observed"].as_str().unwrap().contains(observed),
            "{switch}={value}: {row}"
        );
    }
    assert_reads_only(&sim, since);
}
