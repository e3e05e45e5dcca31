//! Contract of the simulated ServiceNow Table API and Jira REST API.

use axum::routing::post;
use itsm_bridge::sim::{SEED_JIRA_KEY, SEED_SN_SYS_ID};
use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::{Sim, header, send, send_json, status_json};

fn sn_incident() -> String {
    format!("/api/now/table/incident/{SEED_SN_SYS_ID}")
}

#[tokio::test]
async fn servicenow_patch_appends_journal_fields_and_counts_modifications() {
    let sim = Sim::start().await;
    let (status, body) = sim.itsm_send(Method::PATCH, &sn_incident(), &json!({"work_notes": "[Orange 2103M44704] engineer on site", "correlation_id": "2103M44704"})).await;
    assert_eq!(status, 200);
    let r = &body["result"];
    assert_eq!(
        (r["work_notes"].as_str(), r["correlation_id"].as_str()),
        (Some(""), Some("2103M44704"))
    );
    assert_eq!(
        (r["sys_mod_count"].as_str(), r["sys_updated_by"].as_str()),
        (Some("1"), Some("sandbox"))
    );
    let q = format!(
        "/api/now/table/sys_journal_field?sysparm_query=element_id={SEED_SN_SYS_ID}^element=work_notes"
    );
    let (_, journal) = sim.itsm_read(&q).await;
    assert_eq!(
        journal["result"][0]["value"],
        "[Orange 2103M44704] engineer on site"
    );
    let q = "/api/now/table/incident?sysparm_query=correlation_id=2103M44704&sysparm_fields=sys_id,number";
    let resp = send(sim.itsm(Method::GET, q)).await;
    assert_eq!(header(&resp, "x-total-count").as_deref(), Some("1"));
    let (_, found) = status_json(resp).await;
    assert_eq!(
        found["result"][0],
        json!({"sys_id": SEED_SN_SYS_ID, "number": "INC0010001"})
    );
}

#[tokio::test]
async fn servicenow_keeps_a_sys_id_given_on_insert_and_refuses_a_taken_one() {
    let sim = Sim::start().await;
    let id = "0123456789abcdef0123456789abcdef";
    let insert = async |body: Value| {
        sim.itsm_send(Method::POST, "/api/now/table/incident", &body)
            .await
    };
    let (status, created) = insert(json!({"sys_id": id, "short_description": "seeded"})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["result"]["sys_id"], id);
    let (status, read) = sim
        .itsm_read(&format!("/api/now/table/incident/{id}"))
        .await;
    assert_eq!(
        (status, &read["result"]["short_description"]),
        (200, &json!("seeded"))
    );

    // The id is taken: the insert fails and the record stays as it was.
    let (status, body) = insert(json!({"sys_id": id, "short_description": "again"})).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (403, Some("Operation Failed")),
        "{body}"
    );
    let number = created["result"]["number"].as_str().unwrap();
    assert_eq!(
        body["error"]["detail"],
        format!("Error during insert of incident ({number})")
    );
    let (_, read) = sim
        .itsm_read(&format!("/api/now/table/incident/{id}"))
        .await;
    assert_eq!(read["result"]["short_description"], "seeded");

    // Without one, the Table API makes one up.
    let (status, other) = insert(json!({"short_description": "fresh"})).await;
    assert_eq!(status, 201);
    assert_eq!(other["result"]["sys_id"].as_str().unwrap().len(), 32);
    assert_ne!(other["result"]["sys_id"], id);
}

#[tokio::test]
async fn servicenow_lists_by_update_time_in_order_a_page_at_a_time() {
    let sim = Sim::start().await;
    for n in 0..3 {
        let body = json!({"short_description": format!("n{n}")});
        let (status, _) = sim
            .itsm_send(Method::POST, "/api/now/table/incident", &body)
            .await;
        assert_eq!(status, 201);
    }
    let list = async |query: &str, offset: u32| -> Vec<Value> {
        let q = format!(
            "/api/now/table/incident?sysparm_query={}&sysparm_limit=2&sysparm_offset={offset}",
            url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let (status, body) = sim.itsm_read(&q).await;
        assert_eq!(status, 200, "{body}");
        body["result"].as_array().unwrap().clone()
    };
    let order = "^ORDERBYsys_updated_on^ORDERBYsys_id";
    let mut all = list(&format!("sys_updated_on>=2000-01-01 00:00:00{order}"), 0).await;
    assert_eq!(all.len(), 2, "sysparm_limit");
    all.extend(list(&format!("sys_updated_on>=2000-01-01 00:00:00{order}"), 2).await);
    all.extend(list(&format!("sys_updated_on>=2000-01-01 00:00:00{order}"), 4).await);
    assert_eq!(all.len(), 4, "the seeded incident and the three created");
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap().to_owned();
            (f("sys_updated_on"), f("sys_id"))
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by sys_updated_on, then sys_id");
    assert!(
        list(&format!("sys_updated_on>=2999-01-01 00:00:00{order}"), 0)
            .await
            .is_empty()
    );
    assert_eq!(list("sys_updated_on<2999-01-01 00:00:00", 0).await.len(), 2);
}

#[tokio::test]
async fn servicenow_refuses_to_resolve_without_close_code_and_notes() {
    let sim = Sim::start().await;
    let (status, body) = sim
        .itsm_send(Method::PATCH, &sn_incident(), &json!({"state": "6"}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["status"], "failure");
    assert!(
        body["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("Data Policy Exception")
    );
    let ok = json!({"state": "6", "close_code": "Solution provided", "close_notes": "Line card replaced"});
    let (status, body) = sim.itsm_send(Method::PATCH, &sn_incident(), &ok).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["state"], "6");
}

#[tokio::test]
async fn servicenow_auth_failures_and_unknown_records_use_servicenow_bodies() {
    let sim = Sim::start().await;
    let (status, body) = send_json(
        sim.http
            .get(sim.url(&sn_incident()))
            .basic_auth("sandbox", Some("bad")),
    )
    .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (401, Some("User Not Authenticated"))
    );
    let resp = send(
        sim.http
            .get(sim.url(&sn_incident()))
            .bearer_auth("sandbox-token"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (status, body) = sim.itsm_read("/api/now/table/incident/0000").await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some("No Record found"))
    );
}

#[tokio::test]
async fn servicenow_changes_fire_the_configured_webhook() {
    let sim = Sim::start().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.control("/_sim/servicenow/webhook", json!({"url": hook}))
        .await;
    let body = json!({"short_description": "VPN down", "cmdb_ci": "PARIS-RTR-01"});
    let (status, _) = sim
        .itsm_send(Method::POST, "/api/now/table/incident", &body)
        .await;
    assert_eq!(status, 201);
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["record"]["short_description"], "VPN down");
    assert_eq!(got["record"]["sys_updated_by"], "sandbox");
}

#[tokio::test]
async fn jira_v3_rejects_a_plain_string_comment_and_accepts_adf() {
    let sim = Sim::start().await;
    let path = format!("/rest/api/3/issue/{SEED_JIRA_KEY}/comment");
    let (status, body) = sim
        .itsm_send(Method::POST, &path, &json!({"body": "plain"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"]["comment"], "Comment body is not valid!");
    let adf = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "from Orange"}]}]});
    let (status, c) = sim
        .itsm_send(Method::POST, &path, &json!({"body": adf}))
        .await;
    assert_eq!(status, 201);
    assert!(c["id"].is_string());
    let v2 = format!("/rest/api/2/issue/{SEED_JIRA_KEY}/comment");
    let (status, _) = sim
        .itsm_send(Method::POST, &v2, &json!({"body": "wiki *text*"}))
        .await;
    assert_eq!(status, 201);
    let (_, issue) = sim
        .itsm_read(&format!("/rest/api/2/issue/{SEED_JIRA_KEY}"))
        .await;
    assert_eq!(issue["fields"]["comment"]["total"], 2);
    assert_eq!(
        issue["fields"]["comment"]["comments"][0]["body"],
        "from Orange"
    );
}

#[tokio::test]
async fn jira_transitions_follow_the_classic_workflow_and_its_resolution_screen() {
    let sim = Sim::start().await;
    let path = format!("/rest/api/2/issue/{SEED_JIRA_KEY}/transitions");
    let (_, list) = sim.itsm_read(&path).await;
    let names: Vec<(&str, &str, &str)> = list["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |p: &str| t.pointer(p).and_then(Value::as_str).unwrap();
            (s("/id"), s("/name"), s("/to/name"))
        })
        .collect();
    assert_eq!(
        names,
        [
            ("4", "Start Progress", "In Progress"),
            ("5", "Resolve Issue", "Resolved"),
            ("2", "Close Issue", "Closed")
        ]
    );
    let post = async |body: Value| sim.itsm_send(Method::POST, &path, &body).await;
    // Reopen Issue is not available from Open.
    assert_eq!(post(json!({"transition": {"id": "3"}})).await.0, 400);
    // Start Progress has no screen; Resolve Issue wants a resolution object.
    let (status, body) =
        post(json!({"transition": {"id": "4"}, "fields": {"resolution": {"name": "Done"}}})).await;
    assert_eq!(status, 400);
    assert!(
        body["errors"]["resolution"]
            .as_str()
            .unwrap()
            .contains("not on the appropriate screen")
    );
    let (status, body) =
        post(json!({"transition": {"id": "5"}, "fields": {"resolution": "Done"}})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["resolution"],
        "Could not find valid 'id' or 'name' in resolution object."
    );
    let (status, _) =
        post(json!({"transition": {"id": "5"}, "fields": {"resolution": {"name": "Done"}}})).await;
    assert_eq!(status, 204);
    let (_, issue) = sim
        .itsm_read(&format!(
            "/rest/api/3/issue/{SEED_JIRA_KEY}?expand=changelog"
        ))
        .await;
    assert_eq!(issue["fields"]["status"]["name"], "Resolved");
    assert_eq!(issue["fields"]["status"]["statusCategory"]["key"], "done");
    assert_eq!(issue["fields"]["resolution"]["name"], "Done");
    assert_eq!(issue["fields"]["description"]["type"], "doc");
    let items = &issue["changelog"]["histories"][0]["items"];
    assert_eq!(
        (items[0]["field"].as_str(), items[0]["toString"].as_str()),
        (Some("status"), Some("Resolved"))
    );
    assert_eq!(items[1]["toString"], "Done");
    assert_eq!(
        issue["changelog"]["histories"][0]["author"]["name"],
        "sandbox"
    );
}

#[tokio::test]
async fn jira_issues_are_addressed_by_id_or_key_and_internal_notes_go_through_jsm() {
    let sim = Sim::start().await;
    let (_, issue) = sim
        .itsm_read(&format!("/rest/api/2/issue/{SEED_JIRA_KEY}"))
        .await;
    let id = issue["id"].as_str().unwrap().to_owned();
    let (status, by_id) = sim.itsm_read(&format!("/rest/api/2/issue/{id}")).await;
    assert_eq!((status, by_id["key"].as_str()), (200, Some(SEED_JIRA_KEY)));
    let (status, _) = sim
        .itsm_read(&format!("/rest/api/2/issue/{id}/transitions"))
        .await;
    assert_eq!(status, 200);

    let jsm = format!("/rest/servicedeskapi/request/{id}/comment");
    let note = json!({"body": "[Orange 2103M44704] engineer on site", "public": false});
    let (status, c) = sim.itsm_send(Method::POST, &jsm, &note).await;
    assert_eq!(status, 201);
    assert_eq!(
        (c["public"].as_bool(), c["id"].is_string()),
        (Some(false), true)
    );
    assert!(c["created"]["epochMillis"].as_i64().unwrap() > 0);
    // An ADF body is not what the JSM API takes; an unknown request is a JSM-shaped 404.
    let adf = json!({"body": {"type": "doc"}, "public": false});
    let (status, err) = sim.itsm_send(Method::POST, &jsm, &adf).await;
    assert_eq!(status, 400);
    assert!(err["errorMessage"].is_string());
    let unknown = "/rest/servicedeskapi/request/NOPE-1/comment";
    let (status, err) = sim
        .itsm_send(
            Method::POST,
            unknown,
            &json!({"body": "x", "public": false}),
        )
        .await;
    assert_eq!(
        (status, err["i18nErrorMessage"]["i18nKey"].is_string()),
        (404, true)
    );
    // The platform API shows the note as internal, with its author and self link.
    let (_, list) = sim
        .itsm_read(&format!("/rest/api/2/issue/{SEED_JIRA_KEY}/comment"))
        .await;
    let stored = &list["comments"][0];
    assert_eq!(stored["jsdPublic"], false);
    assert_eq!(stored["author"]["name"], "sandbox");
    assert_eq!(
        stored["self"].as_str().unwrap(),
        format!(
            "/rest/api/2/issue/{id}/comment/{}",
            c["id"].as_str().unwrap()
        )
    );
    let (_, internal_only) = sim.itsm_read(&format!("{jsm}?public=false")).await;
    assert_eq!(internal_only["size"], 1);
}

#[tokio::test]
async fn jira_edit_returns_204_and_v3_requires_adf_descriptions() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/jira/issues",
        json!({"key": "OPS-9", "fields": {"summary": "seeded"}, "status": "In Progress"}),
    )
    .await;
    let edit = json!({"fields": {"summary": "renamed"}, "update": {"labels": [{"add": "orange"}]}});
    let put = sim.http.put(sim.url("/rest/api/2/issue/OPS-9"));
    let resp = send(put.bearer_auth("sandbox-token").json(&edit)).await;
    assert_eq!(resp.status(), 204);
    let plain = json!({"fields": {"description": "plain"}});
    let (status, body) = sim
        .itsm_send(Method::PUT, "/rest/api/3/issue/OPS-9", &plain)
        .await;
    assert_eq!(status, 400);
    assert!(body["errors"]["description"].is_string());
    let (_, issue) = sim.itsm_read("/rest/api/2/issue/OPS-9").await;
    assert_eq!(
        (
            issue["fields"]["summary"].as_str(),
            issue["fields"]["labels"][0].as_str()
        ),
        (Some("renamed"), Some("orange"))
    );
    assert_eq!(issue["fields"]["status"]["name"], "In Progress");
    let (status, _) = send_json(sim.http.get(sim.url("/rest/api/2/issue/OPS-9"))).await;
    assert_eq!(status, 401);
    let (status, body) = sim.itsm_read("/rest/api/2/issue/NOPE-1").await;
    assert_eq!(status, 404);
    assert!(body["errorMessages"][0].is_string());
}

#[tokio::test]
async fn jira_plays_cloud_with_search_jql_paging_by_token_and_410_on_the_old_search() {
    let sim = Sim::start().await;
    for n in 0..4 {
        crate::support::jira::create_incident(&sim, &format!("Site {n} down")).await;
    }
    let jql = r#"updated >= "-60m" ORDER BY updated ASC"#;
    let old = format!("/rest/api/2/search?jql={}", urlencode(jql));
    let get = async |path: String| sim.itsm_read(&path).await;
    // Data Center (the default): the old search answers, /search/jql does not exist.
    assert_eq!(get(old.clone()).await.0, 200);
    let page = |token: Option<&str>| {
        let mut p = format!(
            "/rest/api/3/search/jql?jql={}&maxResults=2&fields=*all&expand=changelog",
            urlencode(jql)
        );
        if let Some(t) = token {
            p.push_str(&format!("&nextPageToken={}", urlencode(t)));
        }
        p
    };
    assert_eq!(get(page(None)).await.0, 404);

    sim.control("/_sim/inferred", json!({"jira_site": "cloud"}))
        .await;
    let (status, body) = get(old).await;
    assert_eq!(status, 410, "{body}");
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("/search/jql")
    );

    // Five issues (four and the seeded one), two a page, each page naming the next.
    let (mut keys, mut token, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let (status, body) = get(page(token.as_deref())).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for i in body["issues"].as_array().unwrap() {
            assert!(i["fields"]["updated"].is_string() && i["changelog"].is_object());
            keys.push(i["key"].as_str().unwrap().to_owned());
        }
        if body["isLast"] == true {
            assert!(body.get("nextPageToken").is_none());
            break;
        }
        token = Some(body["nextPageToken"].as_str().unwrap().to_owned());
    }
    assert_eq!((keys.len(), pages), (5, 3), "{keys:?}");
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(unique, keys);

    // POST asks the same in a body; without fields an issue is its id only.
    let (status, body) = sim
        .itsm_send(
            Method::POST,
            "/rest/api/3/search/jql",
            &json!({"jql": jql, "maxResults": 10}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["issues"].as_array().unwrap().len(), 5);
    assert_eq!(body["issues"][0].as_object().unwrap().len(), 1, "{body}");
    // A token of another query, and an unbounded query, are refused.
    let other = format!(
        "/rest/api/3/search/jql?jql={}&nextPageToken={}",
        urlencode(r#"updated >= "-5m""#),
        urlencode(token.as_deref().unwrap())
    );
    assert_eq!(get(other).await.0, 400);
    assert_eq!(get("/rest/api/3/search/jql?jql=".into()).await.0, 400);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
