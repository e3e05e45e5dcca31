//! Property: applying any shipped mapping to arbitrary JSON never panics.

use std::path::Path;

use http::HeaderMap;
use itsm_bridge::mapping::{Incoming, Mapping};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("insert"),
            Just("update"),
            Just("attachment"),
            Just("jira:issue_created"),
            Just("comment_created"),
            Just("jira:issue_updated"),
            Just("issue_commented"),
            Just("2025-05-14 09:20:30"),
            Just("2025-05-14T11:20:30.087+0200"),
            Just("1"),
            Just("Incident"),
            Just("Service Request")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("webhookEvent"),
            Just("issue_event_type_name"),
            Just("issue"),
            Just("fields"),
            Just("comment"),
            Just("changelog"),
            Just("items"),
            Just("operation"),
            Just("sys_id"),
            Just("sys_mod_count"),
            Just("work_notes"),
            Just("comments"),
            Just("attachment"),
            Just("summary"),
            Just("description"),
            Just("priority"),
            Just("name"),
            Just("issuetype"),
            Just("short_description"),
            Just("impact"),
            Just("urgency"),
            Just("number"),
            Just("key"),
            Just("id"),
            Just("body"),
            Just("self"),
            Just("changed_fields"),
            Just("u_orange_service_number"),
            Just("customfield_10060"),
            Just("value"),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.prop_map(String::from), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn shipped() -> Vec<Mapping> {
    [
        "servicenow-incident",
        "jira-incident",
        "servicenow-trouble-ticket",
        "jira-ordering",
    ]
    .iter()
    .map(|n| Mapping::from_file(Path::new(&format!("mappings/demo/{n}.yaml")), n).unwrap())
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn applying_any_shipped_mapping_to_arbitrary_json_never_panics(body in json_value()) {
        let raw = serde_json::to_vec(&body).unwrap();
        for m in shipped() {
            let _ = m.apply(&Incoming { kind: m.kind, headers: &HeaderMap::new(), body: &body, raw: &raw });
        }
    }
}
