use super::*;

const ID: &str = "9d385017c611228701d22104cc95c371";

fn ts(s: &str) -> Timestamp {
    parse_date(s).unwrap()
}

fn record(count: &str) -> Value {
    json!({"sys_id": ID, "number": "INC0010023", "short_description": "MPLS down",
        "impact": "1", "urgency": "1", "state": "2", "correlation_id": "",
        "work_notes": "", "comments": "", "sys_mod_count": count,
        "sys_created_on": "2026-01-02 09:00:00", "sys_updated_on": "2026-01-02 09:30:00",
        "sys_updated_by": "abel.tuter"})
}

fn note(id: &str, at: &str, by: &str, text: &str) -> Value {
    json!({"sys_id": id, "name": "incident", "element": "work_notes", "element_id": ID,
        "value": text, "sys_created_on": at, "sys_created_by": by})
}

/// The journal of most cases: one work note, "CPE shows LOS", at 09:10.
fn los_journal() -> [Value; 1] {
    [note(
        "j1",
        "2026-01-02 09:10:00",
        "abel.tuter",
        "CPE shows LOS",
    )]
}

/// What `synthesize` makes of the incident at version 3 (`record("3")`) with `journal`,
/// starting at `from`.
fn synthesize_v3(
    journal: &[Value],
    from: Timestamp,
    received: &Received,
    linked: bool,
) -> Vec<Rebuilt> {
    synthesize("incident", &record("3"), journal, from, received, linked)
}

#[test]
fn runs_start_before_the_watermark_or_look_back_and_continue_by_second() {
    let now = ts("2026-01-02 12:00:00");
    let day = Duration::from_secs(3600);
    let s = start(None, now, day, Duration::from_secs(120));
    assert_eq!(
        s.query,
        "sys_updated_on>=2026-01-02 11:00:00^ORDERBYsys_updated_on^ORDERBYsys_id"
    );
    let s = start(
        Some("2026-01-02 11:20:30"),
        now,
        day,
        Duration::from_secs(120),
    );
    assert_eq!(s.from, ts("2026-01-02 11:18:30"));
    assert!(s.query.starts_with("sys_updated_on>=2026-01-02 11:18:30^"));
    assert!(is_later("2026-01-02 11:20:31", Some("2026-01-02 11:20:30")));
    assert!(!is_later("garbage", None));
    assert_eq!(
        journal_query("incident", &["a".into(), "b".into()], s.from),
        "name=incident^element_idINa,b^elementINwork_notes,comments^sys_created_on>=2026-01-02 11:18:30^ORDERBYsys_created_on^ORDERBYsys_id"
    );
}

#[test]
fn an_unreceived_record_gives_its_insert_keyed_on_version_zero_then_its_notes() {
    let journal = los_journal();
    let got = synthesize_v3(
        &journal,
        ts("2026-01-02 08:00:00"),
        &Received::default(),
        false,
    );
    let keys: Vec<_> = got.iter().map(|r| r.dedupe_key.as_deref()).collect();
    assert_eq!(keys, [Some(&*format!("sn:{ID}:0")), Some("sn-journal:j1")]);
    assert_eq!(got[0].body["operation"], "insert");
    assert_eq!(got[0].body["short_description"], "MPLS down");
    let n = &got[1].body;
    assert_eq!(n["changed_fields"], json!(["work_notes"]));
    assert_eq!(
        n["work_notes"],
        "2026-01-02 09:10:00 - abel.tuter (Work notes)\nCPE shows LOS"
    );
    assert_eq!(n["sys_updated_by"], "abel.tuter");
    assert!(n.get("sys_mod_count").is_none());
}

#[test]
fn a_missed_version_is_one_update_with_the_fields_changed_since_the_last_received() {
    let mut r = Received::default();
    let mut v1 = record("1");
    v1["short_description"] = json!("MPLS");
    v1["correlation_id"] = Value::Null;
    v1["operation"] = json!("insert");
    r.add(&serde_json::to_vec(&v1).unwrap());
    r.add(
        &serde_json::to_vec(&json!({"operation": "update", "record": {"sys_id": ID,
            "sys_mod_count": "2", "work_notes": "2026-01-02 09:10:00 - Abel (Work notes)\nCPE shows LOS"}}))
        .unwrap(),
    );
    assert!(r.inserted);
    let journal = los_journal();
    let got = synthesize_v3(&journal, ts("2026-01-02 08:00:00"), &r, true);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].dedupe_key, None, "the version's own key: sn:id:3");
    assert_eq!(got[0].body["sys_mod_count"], "3");
    // `correlation_id` null then "" is no change; `short_description` is.
    assert_eq!(got[0].body["changed_fields"], json!(["short_description"]));
    // The current version received: nothing to repair.
    r.add(&serde_json::to_vec(&record("3")).unwrap());
    let got = synthesize_v3(&journal, ts("2026-01-02 08:00:00"), &r, true);
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn rebuilt_events_map_through_the_shipped_mapping_like_the_webhooks_they_stand_for() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mappings/demo/servicenow-incident.yaml");
    let mapping = crate::mapping::Mapping::from_file(&file, "demo").unwrap();
    let map = |r: &Rebuilt| {
        let raw = serde_json::to_vec(&r.body).unwrap();
        let headers = http::HeaderMap::new();
        let incoming = crate::mapping::Incoming {
            kind: SourceKind::Servicenow,
            headers: &headers,
            body: &r.body,
            raw: &raw,
        };
        assert!(crate::mapping::schemas::check_event(SourceKind::Servicenow, &r.body).is_empty());
        let m = mapping.apply(&incoming).unwrap();
        let ops: Vec<String> = m
            .calls
            .iter()
            .map(|c| {
                serde_json::to_value(c).unwrap()["op"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        (m.dedupe_key, ops, m.calls)
    };
    let journal = los_journal();
    let from = ts("2026-01-02 08:00:00");
    let got = synthesize_v3(&journal, from, &Received::default(), false);
    // The insert's key is set by reconciliation (the mapping would say version 3).
    assert_eq!(map(&got[0]).1, ["create_incident"]);
    let (_, ops, calls) = map(&got[1]);
    assert_eq!(ops, ["add_incident_note"]);
    assert_eq!(calls[0].body["text"], "CPE shows LOS");
    assert_eq!(calls[0].body["author"], "abel.tuter");
    // A missed version changing the short description is the mapping's update.
    let mut r = Received::default();
    r.add(
        &serde_json::to_vec(
            &json!({"operation": "insert", "sys_id": ID, "sys_mod_count": "0",
        "short_description": "MPLS", "impact": "1"}),
        )
        .unwrap(),
    );
    let got = synthesize_v3(&[], from, &r, true);
    let (key, ops, calls) = map(&got[0]);
    assert_eq!(
        (key.as_str(), ops),
        (&*format!("sn:{ID}:3"), vec!["update_incident".to_owned()])
    );
    assert_eq!(calls[0].body["shortDescription"], "MPLS down");
}

#[test]
fn what_is_older_than_the_start_is_not_synthesized() {
    let journal = [note("j1", "2026-01-02 09:10:00", "abel.tuter", "old")];
    let got = synthesize_v3(
        &journal,
        ts("2026-01-02 09:45:00"),
        &Received::default(),
        false,
    );
    assert!(got.is_empty(), "{got:?}");
}
