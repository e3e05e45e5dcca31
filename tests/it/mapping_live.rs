//! Live mappings (reload keeps the last good set) and the incoming event schemas.

use itsm_bridge::config::Config;
use itsm_bridge::domain::{SourceKind, SourceName, TenantId};
use itsm_bridge::mapping::schemas::check_event;
use itsm_bridge::mapping::{LiveMappings, MappingSet};
use serde_json::{Value, json};

const GOOD: &str = "source: jira\nroutes:\n  - skip: nothing yet\n";

fn config(dir: &std::path::Path) -> Config {
    let text = "mappings_dir: ./m\nstore: { url: 'sqlite::memory:' }\ntenants:\n  - id: acme\n    orange: { client_id: a, client_secret: bbbbbbbbbb, api_key: cccccccccc }\n    sources:\n      jira:\n        auth: [{ type: hub_signature, secret: long-enough-secret }]\n        mapping: jira.yaml\n";
    Config::from_yaml(text, "config.yaml", dir, |_| None).unwrap()
}

#[test]
fn a_broken_reload_is_rejected_and_the_last_good_mapping_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    std::fs::write(dir.path().join("m/jira.yaml"), GOOD).unwrap();
    let config = config(dir.path());
    let live = LiveMappings::new(MappingSet::load(&config).unwrap());
    let before = live.current();
    std::fs::write(
        dir.path().join("m/jira.yaml"),
        "source: jira\nroutes: [{ then: [{ call: nope }] }]\n",
    )
    .unwrap();
    let problems = live.reload(&config).unwrap_err();
    assert!(
        problems[0]
            .to_string()
            .starts_with("jira.yaml:routes[0].then[0].call:"),
        "{problems:?}"
    );
    assert!(std::sync::Arc::ptr_eq(&before, &live.current()));
    std::fs::write(
        dir.path().join("m/jira.yaml"),
        GOOD.replace("nothing yet", "still nothing"),
    )
    .unwrap();
    live.reload(&config).unwrap();
    let id = (
        TenantId::parse("acme").unwrap(),
        SourceName::parse("jira").unwrap(),
    );
    assert!(live.current().get(&id.0, &id.1).is_some());
    assert!(!std::sync::Arc::ptr_eq(&before, &live.current()));
}

#[test]
fn a_mapping_for_the_wrong_source_kind_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    std::fs::write(
        dir.path().join("m/jira.yaml"),
        GOOD.replace("jira", "servicenow"),
    )
    .unwrap();
    let problems = MappingSet::load(&config(dir.path())).unwrap_err();
    assert!(
        problems[0]
            .message
            .contains("the mapping is for `servicenow`"),
        "{problems:?}"
    );
}

fn fixtures(kind: &str) -> Vec<Value> {
    std::fs::read_dir(format!("mappings/demo/events/{kind}"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect()
}

#[test]
fn every_fixture_passes_the_incoming_event_schema_of_its_kind() {
    for v in fixtures("jira") {
        assert_eq!(check_event(SourceKind::Jira, &v), vec![], "{v}");
    }
    for v in fixtures("servicenow") {
        assert_eq!(check_event(SourceKind::Servicenow, &v), vec![], "{v}");
    }
}

#[test]
fn events_of_the_wrong_shape_fail_the_event_schema() {
    assert!(!check_event(SourceKind::Jira, &json!([1, 2])).is_empty());
    assert!(!check_event(SourceKind::Jira, &json!({"issue": {"id": true}})).is_empty());
    assert!(!check_event(SourceKind::Servicenow, &json!({"sys_id": "not-hex"})).is_empty());
    assert!(
        check_event(
            SourceKind::Servicenow,
            &json!({"record": {"sys_id": "9d385017c611228701d22104cc95c371"}})
        )
        .is_empty()
    );
}
