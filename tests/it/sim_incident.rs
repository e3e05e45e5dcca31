//! Contract of the simulated Orange Incident API 1.3: create/get/update, list filters, sort
//! and paging headers, notes with their author origin, attachments, freezePeriods,
//! aggregation, labels in French, and Orange's 400/404 codes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::{Sim, header, send_json, status_json};

const INCIDENTS: &str = "/incident/b2b/v1/incidents";

/// A simulator with three incidents, and their bodies.
async fn with_three() -> (Sim, Vec<Value>) {
    let sim = Sim::start().await;
    let mut out = Vec::new();
    for (ext, prio, sp) in [
        ("INC001", "P1", "SP-100001"),
        ("INC002", "P2", "SP-100003"),
        ("INC003", "P1", "SP-100002"),
    ] {
        out.push(sim.create_incident(json!({"shortDescription": format!("down {ext}"), "priority": prio,
            "externalReference": ext, "servicePoint": {"id": sp}, "serviceCondition": "INTERUPTED"})).await);
    }
    (sim, out)
}

#[tokio::test]
async fn create_returns_201_with_the_full_incident() {
    let sim = Sim::start().await;
    let inc = sim
        .create_incident(
            json!({"shortDescription": "Router down", "externalReference": "INC0010001",
        "servicePoint": {"id": "SP-100001"}, "serviceCondition": "INTERUPTED", "impact": "HIGH"}),
        )
        .await;
    let id = inc["id"].as_str().unwrap();
    assert_eq!(id.len(), 10, "id like 2103M44704: {id}");
    assert_eq!(&id[4..5], "M");
    assert_eq!(inc["status"], "SUBMITTED");
    assert_eq!(inc["origin"], "CUSTOMER");
    assert_eq!(inc["serviceCondition"], "INTERUPTED");
    assert_eq!(inc["externalReference"], "INC0010001");
    assert_eq!(inc["servicePoint"]["name"], "BVPN Paris HQ");
    assert_eq!(inc["location"]["address"]["country"], "FR");
    assert_eq!(inc["createdAt"], inc["lastUpdateDate"]);
    let (status, got) = sim.orange_read(&format!("{INCIDENTS}/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["shortDescription"], "Router down");
}

#[tokio::test]
async fn unknown_incident_gets_404_code_60() {
    let sim = Sim::start().await;
    let (status, body) = sim.orange_read(&format!("{INCIDENTS}/2101M00000")).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(60)));
    assert_eq!(body["message"], "Resource not found");
}

#[tokio::test]
async fn malformed_bodies_get_400_codes_21_to_24() {
    let sim = Sim::start().await;
    let cases: [(&str, u64); 4] = [
        ("", 21),
        ("{not json", 22),
        (r#"{"description":"x"}"#, 23),
        (r#"{"shortDescription":42}"#, 24),
    ];
    for (body, code) in cases {
        let (status, err) = send_json(
            sim.orange(Method::POST, INCIDENTS)
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(
            (status, err["code"].as_u64()),
            (400, Some(code)),
            "body {body:?}: {err}"
        );
        assert!(err["message"].is_string() && err["description"].is_string());
    }
}

#[tokio::test]
async fn list_filters_on_dotted_paths_and_external_reference() {
    let (sim, _) = with_three().await;
    let resp = sim
        .orange_response(&format!(
            "{INCIDENTS}?location.address.country=FR&priority=P1"
        ))
        .await;
    assert_eq!(header(&resp, "x-total-count").as_deref(), Some("2"));
    let (_, list) = status_json(resp).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, list) = sim
        .orange_read(&format!("{INCIDENTS}?externalReference=INC002"))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["location"]["address"]["country"], "GB");
}

#[tokio::test]
async fn list_sorts_descending_and_pages_with_count_headers() {
    let (sim, created) = with_three().await;
    let resp = sim
        .orange_response(&format!("{INCIDENTS}?sort=-createdAt&offset=1&limit=1"))
        .await;
    assert_eq!(header(&resp, "x-total-count").as_deref(), Some("3"));
    assert_eq!(header(&resp, "x-result-count").as_deref(), Some("1"));
    let (_, page) = status_json(resp).await;
    assert_eq!(page[0]["id"], created[1]["id"]);
    let (_, all) = sim
        .orange_read(&format!("{INCIDENTS}?sort=priority,-createdAt"))
        .await;
    let ids: Vec<&Value> = all.as_array().unwrap().iter().map(|i| &i["id"]).collect();
    assert_eq!(
        ids,
        vec![&created[2]["id"], &created[0]["id"], &created[1]["id"]]
    );
    let (status, err) = sim.orange_read(&format!("{INCIDENTS}?limit=ten")).await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(28)));
}

#[tokio::test]
async fn every_change_bumps_last_update_date_which_sorts_and_filters() {
    let (sim, created) = with_three().await;
    let first = created[0]["id"].as_str().unwrap();
    let watermark = created[2]["lastUpdateDate"].as_str().unwrap().to_owned();
    sim.control(
        &format!("/_sim/incidents/{first}/notes"),
        json!({"text": "engineer dispatched"}),
    )
    .await;
    let (_, list) = sim
        .orange_read(&format!(
            "{INCIDENTS}?sort=-lastUpdateDate&lastUpdateDate>={watermark}"
        ))
        .await;
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|i| &i["id"]).collect();
    assert_eq!(ids, vec![&created[0]["id"], &created[2]["id"]]);
    let advanced = sim
        .control(&format!("/_sim/incidents/{first}/advance"), json!({}))
        .await;
    assert_eq!(advanced["status"], "VALIDATED");
    assert!(
        advanced["lastUpdateDate"].as_str().unwrap() > list[0]["lastUpdateDate"].as_str().unwrap()
    );
}

#[tokio::test]
async fn patch_updates_fields_but_not_read_only_ones() {
    let sim = Sim::start().await;
    let inc = sim.new_incident("slow").await;
    let id = inc["id"].as_str().unwrap();
    let patch = json!({"description": "very slow", "id": "X", "urgency": "HIGH"});
    let (status, got) = sim
        .orange_send(Method::PATCH, &format!("{INCIDENTS}/{id}"), &patch)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            got["id"].as_str(),
            got["description"].as_str(),
            got["urgency"].as_str()
        ),
        (Some(id), Some("very slow"), Some("HIGH"))
    );
    assert!(got["lastUpdateDate"].as_str() > inc["lastUpdateDate"].as_str());
}

#[tokio::test]
async fn notes_say_whether_orange_or_the_customer_wrote_them() {
    let sim = Sim::start().await;
    let inc = sim.new_incident("down").await;
    let notes = format!("{INCIDENTS}/{}/notes", inc["id"].as_str().unwrap());
    let (status, mine) = sim
        .orange_send(Method::POST, &notes, &json!({"text": "please call"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(mine["author"]["origin"], "CUSTOMER");
    sim.control(
        &format!("/_sim/incidents/{}/notes", inc["id"].as_str().unwrap()),
        json!({"text": "on site at 14:00"}),
    )
    .await;
    let resp = sim.orange_response(&notes).await;
    assert_eq!(header(&resp, "x-total-count").as_deref(), Some("2"));
    let (_, list) = status_json(resp).await;
    assert_eq!(list[1]["author"]["origin"], "ORANGE");
    assert_eq!(list[1]["text"], "on site at 14:00");
    for n in list.as_array().unwrap() {
        assert!(n["id"].is_string() && n["createdAt"].is_string());
    }
    let (status, err) = sim.orange_send(Method::POST, &notes, &json!({})).await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(23)));
}

#[tokio::test]
async fn attachments_upload_as_multipart_then_list_and_download() {
    let sim = Sim::start().await;
    let inc = sim.new_incident("down").await;
    let base = format!("{INCIDENTS}/{}/attachments", inc["id"].as_str().unwrap());
    let part = reqwest::multipart::Part::bytes(b"trace line 1\ntrace line 2".to_vec())
        .file_name("trace.log")
        .mime_str("text/plain")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let (status, meta) = send_json(sim.orange(Method::POST, &base).multipart(form)).await;
    assert_eq!(status, 201);
    assert_eq!(
        (meta["name"].as_str(), meta["size"].as_u64()),
        (Some("trace.log"), Some(25))
    );
    let (_, list) = sim.orange_read(&base).await;
    assert_eq!(list[0]["id"], meta["id"]);
    let resp = sim
        .orange_response(&format!("{base}/{}", meta["id"].as_str().unwrap()))
        .await;
    assert_eq!(header(&resp, "content-type").as_deref(), Some("text/plain"));
    assert_eq!(
        &resp.bytes().await.unwrap()[..],
        b"trace line 1\ntrace line 2"
    );
    let (status, err) = sim.orange_send(Method::POST, &base, &json!({})).await;
    assert_eq!((status, err["code"].as_u64()), (415, Some(68)));
}

#[tokio::test]
async fn freeze_periods_aggregation_and_french_labels() {
    let (sim, created) = with_three().await;
    let id = created[0]["id"].as_str().unwrap();
    sim.control(
        &format!("/_sim/incidents/{id}/freezePeriods"),
        json!({"reason": "site closed"}),
    )
    .await;
    let (_, periods) = sim
        .orange_read(&format!("{INCIDENTS}/{id}/freezePeriods"))
        .await;
    assert_eq!(periods[0]["reason"], "site closed");
    let (_, agg) = sim
        .orange_read("/incident/b2b/v1/aggregation?groupBy=priority")
        .await;
    assert_eq!(
        agg,
        json!([{"priority": "P1", "count": 2}, {"priority": "P2", "count": 1}])
    );
    let (_, fr) = send_json(
        sim.orange(Method::GET, &format!("{INCIDENTS}/{id}"))
            .header("Accept-Language", "fr"),
    )
    .await;
    assert_eq!(fr["statusLabel"], "Soumis");
    for p in ["status", "version", "doc"] {
        let resp = sim.orange_response(&format!("/incident/b2b/v1/{p}")).await;
        assert_eq!(resp.status(), 200, "{p}");
    }
}
