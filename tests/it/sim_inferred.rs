//! The simulator's inferred-behaviour switches (`/_sim/inferred`) and the Orange client's
//! read-only probes of them: each alternative is imitated, and each probe tells it apart.

use itsm_bridge::domain::{OrangeApi, TenantId};
use itsm_bridge::orange::OrangeClient;
use itsm_bridge::orange::probe::Verdict;
use itsm_bridge::sim::Inferred;
use reqwest::Method;
use serde_json::{Value, json};

use crate::delivery_support::{TENANT, delivery_config_yaml, parse_config};
use crate::sim_support::{Sim, send_json};

const INCIDENTS: &str = "/incident/b2b/v1/incidents";
const REQUESTS: &str = "/ordering/b2b/v3/requests";
const TICKETS: &str = "/troubleticket/wholesale/v1/troubleTickets";
const SEARCH: &str = "/troubleticket/wholesale/v1/troubleTickets?ctxid=TCKTNG&sctxid=wse";

async fn switch(sim: &Sim, patch: Value) -> Value {
    sim.control("/_sim/inferred", patch).await
}

async fn list(sim: &Sim, path: &str) -> (u16, Value) {
    sim.orange_read(path).await
}

/// The switch listing: status and body.
async fn switches(sim: &Sim) -> (u16, Value) {
    send_json(sim.http.get(sim.url("/_sim/inferred"))).await
}

fn ids(v: &Value) -> Vec<String> {
    let items = v.get("search").and_then(|s| s.get("tickets")).unwrap_or(v);
    items
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Three incidents with references R1..R3, created in that order.
async fn three_incidents(sim: &Sim) -> Vec<String> {
    let mut out = Vec::new();
    for (i, p) in ["P2", "P1", "P3"].iter().enumerate() {
        let inc = sim
            .create_incident(json!({"shortDescription": "x", "priority": p,
                "externalReference": format!("R{}", i + 1)}))
            .await;
        out.push(inc["id"].as_str().unwrap().to_owned());
    }
    out
}

async fn create_ticket(sim: &Sim, external_id: &str) -> String {
    let req = sim.orange(Method::POST, TICKETS);
    let (status, body) = send_json(
        req.header("X-Application-Id", "app")
            .json(&json!({"description": "down", "externalId": external_id,
            "relatedEntity": [{"id": "LD000100", "role": "orangeServiceNumber"}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["ticketId"]["id"].as_str().unwrap().to_owned()
}

async fn create_order(sim: &Sim, reference: &str) -> String {
    let order = json!({"customerReference": reference});
    let (status, body) = sim.orange_send(Method::POST, REQUESTS, &order).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_switch_listing_shows_every_value_and_a_bad_one_is_refused_whole() {
    let sim = Sim::start().await;
    let (status, l) = switches(&sim).await;
    assert_eq!(status, 200);
    for (name, default, allowed) in [
        (
            "unknown_filters",
            "apply",
            json!(["apply", "ignore", "reject"]),
        ),
        (
            "sort_fields",
            "honour",
            json!(["honour", "ignore", "reject"]),
        ),
        (
            "range_filters",
            "apply",
            json!(["apply", "ignore", "reject"]),
        ),
        ("incident_reference", "stored", json!(["stored", "dropped"])),
        (
            "api_key_failure",
            "unauthorized",
            json!(["unauthorized", "forbidden"]),
        ),
        (
            "application_id",
            "unchecked",
            json!(["unchecked", "required"]),
        ),
        (
            "wholesale_note_type",
            "inward",
            json!(["inward", "as_sent"]),
        ),
    ] {
        assert_eq!(l[name]["value"], default, "{name}");
        assert_eq!(l[name]["allowed"], allowed, "{name}");
    }
    let l = switch(&sim, json!({"unknown_filters": "ignore"})).await;
    assert_eq!(l["unknown_filters"]["value"], "ignore");

    for bad in [
        json!({"unknown_filters": "reject", "sort_fields": "maybe"}),
        json!({"no_such_switch": "apply"}),
        json!(["unknown_filters"]),
    ] {
        let (status, body) = send_json(sim.http.post(sim.url("/_sim/inferred")).json(&bad)).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].as_str().is_some(), "{body}");
    }
    let (_, l) = switches(&sim).await;
    assert_eq!(
        l["unknown_filters"]["value"], "ignore",
        "a refused patch changes nothing"
    );

    sim.control("/_sim/reset", json!({})).await;
    let (_, l) = switches(&sim).await;
    assert_eq!(l["unknown_filters"]["value"], "apply");
}

#[tokio::test]
async fn unknown_filters_are_applied_ignored_or_rejected_and_documented_ones_always_apply() {
    let sim = Sim::start().await;
    let all = three_incidents(&sim).await;
    let by_ref = format!("{INCIDENTS}?externalReference=R2");
    let by_priority = format!("{INCIDENTS}?priority=P1");

    assert_eq!(ids(&list(&sim, &by_ref).await.1), vec![all[1].clone()]);

    switch(&sim, json!({"unknown_filters": "ignore"})).await;
    assert_eq!(ids(&list(&sim, &by_ref).await.1), all);
    assert_eq!(ids(&list(&sim, &by_priority).await.1), vec![all[1].clone()]);

    switch(&sim, json!({"unknown_filters": "reject"})).await;
    let (status, body) = list(&sim, &by_ref).await;
    assert_eq!((status, body["code"].clone()), (400, json!(28)), "{body}");
    assert_eq!(ids(&list(&sim, &by_priority).await.1), vec![all[1].clone()]);
    let (status, _) = list(&sim, &format!("{REQUESTS}?customerReference=R1")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn sorts_other_than_created_at_are_honoured_ignored_or_rejected() {
    let sim = Sim::start().await;
    let all = three_incidents(&sim).await;
    // The oldest incident becomes the last updated.
    sim.control(&format!("/_sim/incidents/{}/advance", all[0]), json!({}))
        .await;
    let by_update = format!("{INCIDENTS}?sort=-lastUpdateDate");
    let newest_update_first = vec![all[0].clone(), all[2].clone(), all[1].clone()];
    assert_eq!(ids(&list(&sim, &by_update).await.1), newest_update_first);

    switch(&sim, json!({"sort_fields": "ignore"})).await;
    assert_eq!(ids(&list(&sim, &by_update).await.1), all, "natural order");
    let mut newest_first = all.clone();
    newest_first.reverse();
    let by_created = format!("{INCIDENTS}?sort=-createdAt");
    assert_eq!(ids(&list(&sim, &by_created).await.1), newest_first);

    switch(&sim, json!({"sort_fields": "reject"})).await;
    let (status, body) = list(&sim, &by_update).await;
    assert_eq!((status, body["code"].clone()), (400, json!(28)), "{body}");
    assert_eq!(ids(&list(&sim, &by_created).await.1), newest_first);
}

#[tokio::test]
async fn range_filters_are_applied_ignored_or_rejected() {
    let sim = Sim::start().await;
    let all = three_incidents(&sim).await;
    let (_, third) = list(&sim, &format!("{INCIDENTS}/{}", all[2])).await;
    let since = third["createdAt"].as_str().unwrap().to_owned();
    let q = format!("{INCIDENTS}?createdAt%3E={since}");
    assert_eq!(ids(&list(&sim, &q).await.1), vec![all[2].clone()]);

    switch(&sim, json!({"range_filters": "ignore"})).await;
    assert_eq!(ids(&list(&sim, &q).await.1), all);

    switch(&sim, json!({"range_filters": "reject"})).await;
    let (status, body) = list(&sim, &q).await;
    assert_eq!((status, body["code"].clone()), (400, json!(28)), "{body}");
}

#[tokio::test]
async fn wholesale_search_treats_external_id_as_the_switch_says() {
    let sim = Sim::start().await;
    let a = create_ticket(&sim, "T-1").await;
    let b = create_ticket(&sim, "T-2").await;
    let q = format!("{SEARCH}&externalId=T-2");
    assert_eq!(ids(&list(&sim, &q).await.1), vec![b.clone()]);
    switch(&sim, json!({"unknown_filters": "ignore"})).await;
    assert_eq!(ids(&list(&sim, &q).await.1), vec![a, b]);
    switch(&sim, json!({"unknown_filters": "reject"})).await;
    let (status, body) = list(&sim, &q).await;
    assert_eq!((status, body["code"].clone()), (400, json!(28)), "{body}");
    assert!(body["infoURL"].is_string());
}

#[tokio::test]
async fn the_other_switches_change_references_api_key_answers_application_id_and_note_types() {
    let sim = Sim::tuned(|o| {
        o.inferred = Inferred::from_assignments(&["incident_reference=dropped"]).unwrap()
    })
    .await;
    let inc = sim
        .create_incident(json!({"shortDescription": "x", "externalReference": "R9"}))
        .await;
    assert!(inc.get("externalReference").is_none(), "{inc}");

    let wrong_key = async |sim: &Sim| {
        let req = sim.http.get(sim.url(INCIDENTS)).bearer_auth(&sim.token);
        send_json(req.header("X-Api-Key", "wrong")).await
    };
    assert_eq!(wrong_key(&sim).await.0, 401);
    switch(&sim, json!({"api_key_failure": "forbidden"})).await;
    let (status, body) = wrong_key(&sim).await;
    assert_eq!((status, body["code"].clone()), (403, json!(50)));

    let t = create_ticket(&sim, "T-1").await;
    switch(
        &sim,
        json!({"application_id": "required", "wholesale_note_type": "as_sent"}),
    )
    .await;
    let (status, body) = list(&sim, SEARCH).await;
    assert_eq!((status, body["code"].clone()), (400, json!(25)), "{body}");
    let with_app = |method| {
        let req = sim.orange(method, &format!("{TICKETS}/{t}"));
        req.header("X-Application-Id", "app")
    };
    let note = json!({"note": {"type": "Comments", "text": "hello"}});
    let (status, _) = send_json(with_app(Method::PATCH).json(&note)).await;
    assert_eq!(status, 200);
    let (_, body) = send_json(with_app(Method::GET)).await;
    assert_eq!(body["ticket"]["note"][0]["type"], "Comments", "as sent");
}

fn client(sim: &Sim) -> std::sync::Arc<OrangeClient> {
    let dir = tempfile::tempdir().unwrap();
    let yaml = delivery_config_yaml(dir.path(), &sim.handle.base_url(), "http://127.0.0.1:9", "");
    let config = parse_config(&yaml);
    crate::support::orange_clients(&config)
        .get(&TenantId::parse(TENANT).unwrap())
        .unwrap()
}

#[tokio::test]
async fn probes_tell_each_reference_filter_mode_apart_on_every_api() {
    let sim = Sim::start().await;
    let c = client(&sim);
    for (api, field) in [
        (OrangeApi::Incident, "externalReference"),
        (OrangeApi::TroubleTicket, "externalId"),
        (OrangeApi::Ordering, "customerReference"),
    ] {
        let v = c.probe_reference_filter(api, field).await.unwrap();
        assert!(matches!(v, Verdict::Undecidable(_)), "{api:?} empty: {v}");
    }
    three_incidents(&sim).await;
    create_ticket(&sim, "T-1").await;
    create_order(&sim, "O-1").await;
    for (mode, want) in [
        ("apply", "honoured"),
        ("ignore", "ignored"),
        ("reject", "rejected"),
    ] {
        switch(&sim, json!({"unknown_filters": mode})).await;
        for (api, field) in [
            (OrangeApi::Incident, "externalReference"),
            (OrangeApi::TroubleTicket, "externalId"),
            (OrangeApi::Ordering, "customerReference"),
        ] {
            let v = c.probe_reference_filter(api, field).await.unwrap();
            assert_eq!(v.word(), want, "{api:?} under {mode}: {v}");
        }
    }
}

#[tokio::test]
async fn probes_tell_each_sort_and_range_mode_apart() {
    let sim = Sim::start().await;
    let c = client(&sim);
    let one = sim.new_incident("x").await;
    let v = c
        .probe_sort(OrangeApi::Incident, "lastUpdateDate")
        .await
        .unwrap();
    assert!(matches!(v, Verdict::Undecidable(_)), "one incident: {v}");
    three_incidents(&sim).await;
    // The oldest becomes the most recently updated: natural order is not update order.
    let id = one["id"].as_str().unwrap();
    sim.control(&format!("/_sim/incidents/{id}/advance"), json!({}))
        .await;
    create_order(&sim, "O-1").await;
    create_order(&sim, "O-2").await;
    for (sort, range, want_sort, want_range) in [
        ("honour", "apply", "honoured", "honoured"),
        ("ignore", "ignore", "ignored", "ignored"),
        ("reject", "reject", "rejected", "rejected"),
    ] {
        switch(&sim, json!({"sort_fields": sort, "range_filters": range})).await;
        let verdicts = [
            (
                format!("sort {sort}"),
                c.probe_sort(OrangeApi::Incident, "lastUpdateDate").await,
                want_sort,
            ),
            (
                format!("range {range}"),
                c.probe_range_filter(OrangeApi::Incident, "lastUpdateDate")
                    .await,
                want_range,
            ),
            (
                format!("orders, range {range}"),
                c.probe_range_filter(OrangeApi::Ordering, "lastUpdateDate")
                    .await,
                want_range,
            ),
        ];
        for (what, v, want) in verdicts {
            let v = v.unwrap();
            assert_eq!(v.word(), want, "{what}: {v}");
        }
        // The documented sort is honoured whatever the switch.
        let v = c
            .probe_sort(OrangeApi::Incident, "createdAt")
            .await
            .unwrap();
        assert_eq!(v, Verdict::Honoured, "createdAt under {sort}");
    }
}
