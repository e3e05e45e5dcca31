//! Contract of the simulated Wholesale Trouble Tickets 1.0, Core Information 2.4 and Ordering
//! 3.1 APIs.

use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::{Sim, header, status_json};

const TT: &str = "/troubleticket/wholesale/v1";
const TICKETS: &str = "/troubleticket/wholesale/v1/troubleTickets";
const SEARCH: &str = "/troubleticket/wholesale/v1/troubleTickets?ctxid=TCKTNG&sctxid=wse";

fn ticket(osn: &str, ext: &str) -> Value {
    json!({"attachment": [], "relatedParty": [{"name": "John Doe", "role": "depositor", "@type": "RelatedPartyTtContactMedium"}],
        "relatedEntity": [{"id": osn, "role": "orangeServiceNumber"}, {"id": "LD001100", "role": "technicalNumber"}],
        "externalId": ext, "description": "Please describe the issue here"})
}

#[tokio::test]
async fn wholesale_ticket_is_created_commented_read_and_searched() {
    let sim = Sim::start().await;
    let (_, numbers) = sim.orange_read(&format!("{TT}/orangeServiceNumbers")).await;
    let osn = numbers[0]["orangeServiceNumbers"][0]["orangeServiceNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, created) = sim
        .orange_send(Method::POST, TICKETS, &ticket(&osn, "INC42"))
        .await;
    assert_eq!(status, 200);
    let id = created["ticketId"]["id"].as_str().unwrap().to_owned();
    let note = json!({"attachment": [], "note": {"date": "2023-08-28T14:40:38.041Z", "type": "Comments", "text": "any news?"},
        "relatedEntity": {"id": osn, "role": "orangeServiceNumber"}});
    let (status, _) = sim
        .orange_send(Method::PATCH, &format!("{TICKETS}/{id}"), &note)
        .await;
    assert_eq!(status, 200);
    let (_, got) = sim.orange_read(&format!("{TICKETS}/{id}")).await;
    assert_eq!(got["ticket"]["status"], "submitted");
    assert_eq!(got["ticket"]["note"][0]["text"], "any news?");
    // Stored as the docs' ticket example shows a comment sent as `Comments`.
    assert_eq!(got["ticket"]["note"][0]["type"], "Inward customer comments");
    assert_eq!(got["ticket"]["note"][0]["@type"], "NoteTtType");
    assert_eq!(got["ticket"]["externalId"], "INC42");
    sim.control(&format!("/_sim/tickets/{id}/advance"), json!({}))
        .await;
    let resp = sim.orange_response(&format!("{SEARCH}&status=in_qualification&orangeServiceNumber={osn}&sortAsc=false&sortColumn=START_DATE")).await;
    assert_eq!(header(&resp, "x-total-count").as_deref(), Some("1"));
    assert_eq!(header(&resp, "x_page_count").as_deref(), Some("1"));
    let (_, found) = status_json(resp).await;
    assert_eq!(found["search"]["tickets"][0]["id"], id.as_str());
}

#[tokio::test]
async fn wholesale_errors_follow_the_docs() {
    let sim = Sim::start().await;
    let (status, err) = sim.orange_read(&format!("{TICKETS}?sctxid=wse")).await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(27)));
    assert!(err["infoURL"].is_string());
    let (status, _) = sim.orange_read(&format!("{SEARCH}&status=open")).await;
    assert_eq!(status, 400);
    let (status, _) = sim
        .orange_send(Method::POST, TICKETS, &ticket("LD999999", "X"))
        .await;
    assert_eq!(status, 422);
    let (status, err) = sim.orange_read(&format!("{TICKETS}/0")).await;
    assert_eq!((status, err["code"].as_u64()), (404, Some(60)));
    let (_, st) = sim.orange_read(&format!("{TT}/status")).await;
    assert_eq!(st["name"], "API Ticketing WIN_BUS");
}

#[tokio::test]
async fn core_information_serves_the_seeded_inventory_with_filters_and_paging() {
    let sim = Sim::start().await;
    let resp = sim
        .orange_response("/core-information/b2b/v2/configurationItems?name=PARIS-RTR-01")
        .await;
    assert_eq!(header(&resp, "x-total-count").as_deref(), Some("1"));
    let (_, cis) = status_json(resp).await;
    let sp = cis[0]["servicePoint"]["id"].as_str().unwrap().to_owned();
    let (status, point) = sim
        .orange_read(&format!("/core-information/b2b/v2/servicePoints/{sp}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(point["location"]["address"]["city"], "Paris");
    let resp = sim
        .orange_response("/core-information/b2b/v2/configurationItems?type=ROUTER&limit=2")
        .await;
    assert_eq!(header(&resp, "x-total-count").as_deref(), Some("4"));
    assert_eq!(header(&resp, "x-result-count").as_deref(), Some("2"));
    let (status, err) = sim
        .orange_read("/core-information/b2b/v2/locations/none")
        .await;
    assert_eq!((status, err["code"].as_u64()), (404, Some(60)));
}

#[tokio::test]
async fn ordering_requests_are_created_listed_and_progress_through_steps() {
    let sim = Sim::start().await;
    let body = json!({"customerReference": "#DEMO#", "catalogItem": {"id": "CAT-BVPN-ACCESS"}});
    let (status, req) = sim
        .orange_send(Method::POST, "/ordering/b2b/v3/requests", &body)
        .await;
    assert_eq!(status, 201);
    assert_eq!(req["step"], "REQUEST");
    let id = req["id"].as_str().unwrap();
    sim.control(&format!("/_sim/requests/{id}/advance"), json!({}))
        .await;
    let resp = sim
        .orange_response("/ordering/b2b/v3/requests?customerReference=%23DEMO%23")
        .await;
    assert_eq!(header(&resp, "x-result-count").as_deref(), Some("1"));
    let (_, list) = status_json(resp).await;
    assert_eq!(list[0]["step"], "VALIDATION");
    let (status, err) = sim
        .orange_send(Method::POST, "/ordering/b2b/v3/requests", &json!({}))
        .await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(23)));
    let (_, items) = sim.orange_read("/ordering/b2b/v3/catalogItems").await;
    assert_eq!(items.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_life_tick_moves_open_objects_and_adds_orange_notes() {
    let sim = Sim::start().await;
    let inc = sim.new_incident("down").await;
    let moved = sim.control("/_sim/tick", json!({})).await;
    assert!(moved["moved"].as_u64().unwrap() >= 1);
    let id = inc["id"].as_str().unwrap();
    let (_, notes) = sim
        .orange_read(&format!("/incident/b2b/v1/incidents/{id}/notes"))
        .await;
    assert_eq!(notes[0]["author"]["origin"], "ORANGE");
}

#[tokio::test]
async fn the_life_timer_moves_incidents_without_any_command() {
    let sim = Sim::tuned(|o| o.life_interval = Some(std::time::Duration::from_millis(20))).await;
    let inc = sim.new_incident("down").await;
    let path = format!("/incident/b2b/v1/incidents/{}", inc["id"].as_str().unwrap());
    let mut status = Value::Null;
    for _ in 0..250 {
        let (_, got) = sim.orange_read(&path).await;
        status = got["status"].clone();
        if status == "CLOSED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, "CLOSED");
}

#[tokio::test]
async fn every_orange_api_serves_a_doc_of_its_own_paths() {
    let sim = Sim::start().await;
    for (base, title) in [
        ("/incident/b2b/v1", "Incident API"),
        ("/troubleticket/wholesale/v1", "Wholesale"),
        ("/core-information/b2b/v2", "Core Information"),
        ("/ordering/b2b/v3", "Ordering"),
    ] {
        let (status, doc) = sim.orange_read(&format!("{base}/doc")).await;
        assert_eq!(status, 200, "{base}");
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["basePath"], base);
        assert!(
            doc["info"]["title"].as_str().unwrap().starts_with(title),
            "{doc}"
        );
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/status") && paths.contains_key("/doc"));
        // What the document lists is served: every GET path without an id answers.
        for (path, ops) in paths {
            if path.contains('{') || ops.get("get").is_none() {
                continue;
            }
            let resp = sim.orange_response(&format!("{base}{path}")).await;
            assert!(
                ![404, 405].contains(&resp.status().as_u16()),
                "{base}{path}: {}",
                resp.status()
            );
        }
    }
}
