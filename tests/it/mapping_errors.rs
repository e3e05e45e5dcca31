//! The mistakes customers make in mappings, and the message each one gets.

use std::path::Path;

use http::HeaderMap;
use itsm_bridge::domain::SourceKind;
use itsm_bridge::mapping::{Incoming, MapError, Mapped, Mapping, MappingProblem};
use serde_json::{Value, json};

fn compile(yaml: &str) -> Result<Mapping, Vec<MappingProblem>> {
    Mapping::from_str(yaml, "acme/jira.yaml", Path::new("."))
}

fn problems(yaml: &str) -> Vec<String> {
    compile(yaml)
        .expect_err("the mapping should be rejected")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn apply(m: &Mapping, body: Value) -> Result<Mapped, MapError> {
    let raw = serde_json::to_vec(&body).unwrap();
    m.apply(&Incoming {
        kind: SourceKind::Jira,
        headers: &HeaderMap::new(),
        body: &body,
        raw: &raw,
    })
}

fn one_field(rule: &str) -> String {
    format!(
        "source: jira\nroutes:\n  - when: {{ event: 'jira:issue_created' }}\n    then:\n      - call: create_incident\n        set:\n          externalReference: {{ path: issue.key }}\n          shortDescription: {rule}\n"
    )
}

fn created(fields: Value) -> Value {
    json!({"webhookEvent": "jira:issue_created", "issue": {"id": "1", "key": "OPS-1", "fields": fields}})
}

#[test]
fn a_path_missing_from_the_event_names_the_rule_and_the_pointer() {
    let m = compile(&one_field("{ path: issue.fields.summmary }")).unwrap();
    let e = apply(&m, created(json!({"summary": "x"}))).unwrap_err();
    assert_eq!(e.rule, "routes[0].then[0].set.shortDescription");
    assert_eq!(e.pointer, "/issue/fields/summmary");
    assert_eq!(
        e.to_string(),
        "routes[0].then[0].set.shortDescription: no value at `issue.fields.summmary` in the event (at /issue/fields/summmary)"
    );
}

#[test]
fn a_value_missing_from_a_table_without_default_is_an_error() {
    let m = compile(&one_field(
        "{ path: issue.fields.priority.name, table: { High: urgent, Low: later } }",
    ))
    .unwrap();
    let e = apply(&m, created(json!({"priority": {"name": "Blocker"}}))).unwrap_err();
    assert_eq!(
        e.message,
        "value \"Blocker\" is not in the table and the rule has no default"
    );
    assert_eq!(e.pointer, "/issue/fields/priority/name");
    let ok = apply(&m, created(json!({"priority": {"name": "High"}}))).unwrap();
    assert_eq!(ok.calls[0].body["shortDescription"], "urgent");
}

#[test]
fn a_bad_template_is_rejected_at_load_with_its_place() {
    let p = problems(&one_field("'{{ issue.key }}: {{ issue.fields.summary'"));
    assert_eq!(
        p,
        [
            "acme/jira.yaml:routes[0].then[0].set.shortDescription: bad template: unclosed `{{` at character 18 of the template"
        ]
    );
}

#[test]
fn a_bad_jq_program_is_rejected_at_load_with_its_place() {
    let p = problems(&one_field("{ jq: '.issue.fields | ' }"));
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with(
            "acme/jira.yaml:routes[0].then[0].set.shortDescription.jq: jq does not parse"
        ),
        "{p:?}"
    );
}

#[test]
fn a_mapping_that_breaks_the_schema_names_the_place_of_each_problem() {
    let yaml = "source: jira\nroutes:\n  - when: { event: x }\n    then:\n      - call: create_ticket\n        set: { a: { path: b, on_missing: maybe } }\n";
    let p = problems(yaml);
    assert!(
        p.iter()
            .any(|s| s.starts_with("acme/jira.yaml:routes[0].then[0].call: ")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|s| s.starts_with("acme/jira.yaml:routes[0].then[0].set.a")),
        "{p:?}"
    );
}

#[test]
fn a_yaml_syntax_error_says_line_and_column() {
    let p = problems("source: jira\nroutes:\n  - when: { event: [x }\n");
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("acme/jira.yaml:3:"), "{p:?}");
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let yaml = "source: jira\nroutes:\n  - then:\n      - call: add_note\n        set:\n          text: '{{ a'\n          author: { jq: 'nosuch(' }\n          x: { path: 'a b' }\n";
    let p = problems(yaml);
    assert_eq!(p.len(), 3, "{p:?}");
}

#[test]
fn a_body_that_breaks_the_orange_schema_is_an_error_before_anything_is_queued() {
    let m = compile(&one_field("{ path: issue.fields.summary }").replace(
        "shortDescription:",
        "priority: { const: urgent }\n          shortDescription:",
    ))
    .unwrap();
    let e = apply(&m, created(json!({"summary": "x"}))).unwrap_err();
    assert_eq!(e.rule, "routes[0].then[0]");
    assert!(
        e.message
            .starts_with("the create_incident body breaks the Orange request schema: /priority:"),
        "{}",
        e.message
    );
}

#[test]
fn check_reports_a_broken_mapping_with_file_and_place_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    std::fs::write(dir.path().join("m/jira.yaml"), one_field("'{{ oops'")).unwrap();
    let config = "mappings_dir: ./m\nstore: { url: 'sqlite::memory:' }\ntenants:\n  - id: acme\n    orange: { client_id: a, client_secret: bbbbbbbbbb, api_key: cccccccccc }\n    sources:\n      jira:\n        auth: [{ type: hub_signature, secret: long-enough-secret }]\n        mapping: jira.yaml\n";
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
        .args(["check", "--config"])
        .arg(dir.path().join("config.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("jira.yaml:routes[0].then[0].set.shortDescription: bad template: unclosed"),
        "{stderr}"
    );
}

#[test]
fn way_back_steps_listed_twice_or_without_a_name_are_refused_with_their_place() {
    let head = "source: jira\nroutes:\n  - skip: nothing here\nway_back:\n  steps:\n";
    let twice = format!(
        "{head}    - {{ step: ORDER, transition: In Progress }}\n    - {{ step: order, comment: again }}\n"
    );
    let p = problems(&twice);
    assert!(
        p.iter()
            .any(|m| m.contains("way_back.steps[1]") && m.contains("listed twice")),
        "{p:?}"
    );
    let nameless = format!("{head}    - {{ transition: In Progress }}\n");
    let p = problems(&nameless);
    assert!(p.iter().any(|m| m.contains("way_back.steps[0]")), "{p:?}");
    let not_a_list = format!("{head}    ORDER: {{ transition: In Progress }}\n");
    let p = problems(&not_a_list);
    assert!(p.iter().any(|m| m.contains("way_back.steps")), "{p:?}");
}
