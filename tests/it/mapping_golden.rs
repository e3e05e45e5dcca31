//! Shipped mappings: they load with the embedded default config, every golden case passes,
//! `check` agrees, and the way back plans what the poller must write.

use std::path::{Path, PathBuf};

use itsm_bridge::config::Config;
use itsm_bridge::domain::{ItsmOp, SourceName, TenantId};
use itsm_bridge::mapping::{Mapping, MappingSet};
use serde_json::json;

fn mapping_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            mapping_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_golden_case_of_every_shipped_mapping_passes() {
    let mut files = Vec::new();
    mapping_files(Path::new("mappings"), &mut files);
    assert!(files.len() >= 4, "shipped mappings: {files:?}");
    let mut cases = 0;
    for f in &files {
        let m = Mapping::from_file(f, &f.display().to_string()).unwrap_or_else(|p| {
            panic!(
                "{}",
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(!m.golden().is_empty(), "{} has no golden case", f.display());
        cases += m.golden().len();
        let failures = m.run_golden();
        assert!(
            failures.is_empty(),
            "{}",
            failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(cases >= 15, "only {cases} golden cases");
}

#[test]
fn the_embedded_default_config_finds_a_mapping_for_every_source() {
    let config = Config::embedded_default();
    let set = MappingSet::load(&config).unwrap_or_else(|p| panic!("{p:?}"));
    let demo = TenantId::parse("demo").unwrap();
    for s in ["servicenow", "jira", "servicenow-tt", "jira-orders"] {
        assert!(
            set.get(&demo, &SourceName::parse(s).unwrap()).is_some(),
            "no mapping for {s}"
        );
    }
}

#[test]
fn check_passes_on_the_default_config_and_says_how_many_cases_ran() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
        .arg("check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("golden case(s) pass"), "{stdout}");
}

fn servicenow() -> Mapping {
    Mapping::from_file(Path::new("mappings/demo/servicenow-incident.yaml"), "sn").unwrap()
}

#[test]
fn resolving_in_orange_resolves_the_servicenow_incident_with_its_close_fields() {
    let m = servicenow();
    let call = m
        .way_back()
        .plan_status(
            "9d38",
            "resolved",
            &json!({"id": "2103M44704", "resolution": "Line card replaced"}),
        )
        .unwrap();
    let ItsmOp::ServicenowPatch {
        table,
        sys_id,
        fields,
    } = call.op
    else {
        panic!("{call:?}")
    };
    assert_eq!((table.as_str(), sys_id.as_str()), ("incident", "9d38"));
    assert_eq!(fields["state"], "6");
    assert_eq!(fields["close_code"], "Solution provided");
    assert_eq!(
        fields["close_notes"],
        "Resolved by Orange (incident 2103M44704): Line card replaced"
    );
    assert!(
        m.way_back()
            .plan_status("9d38", "VALIDATED", &json!({}))
            .is_none()
    );
}

#[test]
fn orange_notes_go_to_work_notes_and_customer_notes_do_not_come_back() {
    let m = servicenow();
    let wb = m.way_back();
    let call = wb
        .plan_note(
            "9d38",
            "2103M44704",
            &json!({"text": "Technician dispatched"}),
            true,
        )
        .unwrap();
    let ItsmOp::ServicenowPatch { fields, .. } = call.op else {
        panic!()
    };
    assert_eq!(
        fields["work_notes"],
        "[Orange 2103M44704] Technician dispatched"
    );
    assert!(
        wb.plan_note(
            "9d38",
            "2103M44704",
            &json!({"text": "from the customer"}),
            false
        )
        .is_none()
    );
    let link = wb.plan_link("9d38", "2103M44704").unwrap();
    let ItsmOp::ServicenowPatch { fields, .. } = link.op else {
        panic!()
    };
    assert_eq!(fields["correlation_id"], "2103M44704");
    assert_eq!(fields["correlation_display"], "Orange Business");
}

#[test]
fn jira_way_back_transitions_and_writes_internal_comments() {
    let m = Mapping::from_file(Path::new("mappings/demo/jira-incident.yaml"), "jira").unwrap();
    let wb = m.way_back();
    let call = wb
        .plan_status("10482", "RESOLVED", &json!({"id": "X"}))
        .unwrap();
    let ItsmOp::JiraTransition {
        issue,
        transition,
        fields,
    } = call.op
    else {
        panic!()
    };
    assert_eq!(
        (issue.as_str(), transition.as_str()),
        ("10482", "Resolve Issue")
    );
    assert_eq!(fields, Some(json!({"resolution": "Done"})));
    let note = wb
        .plan_note("10482", "X", &json!({"text": "hello"}), true)
        .unwrap();
    assert_eq!(
        note.op,
        ItsmOp::JiraComment {
            issue: "10482".into(),
            body: "[Orange X] hello".into(),
            public: false
        }
    );
    let link = wb.plan_link("10482", "X").unwrap();
    assert!(
        matches!(link.op, ItsmOp::JiraEdit { ref fields, .. } if fields["customfield_10051"] == "X")
    );
}
