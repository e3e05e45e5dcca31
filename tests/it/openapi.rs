//! The OpenAPI document (`/openapi.json`, `src/http/openapi.json`) against the real router:
//! every route and method the router answers is in the document (routes read from the router
//! itself, methods found by asking it), every operation has an `operationId`, a tag, its
//! security and a schema for each JSON answer, and the answers of every operation, driven
//! through success and failure, validate against the schema of their status.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_support::header;
use crate::support::admin::ADMIN as TOKEN;
use crate::support::routes::METHODS;
use crate::support::{ACME_JIRA_SECRET, TestApp, fixture};

async fn document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The router's paths as templates (`/admin/v1/events/{id}`, read by `support::routes`);
/// known routes are asserted so a change of axum's output fails instead of emptying it.
/// The console's pages (`/console/…`) are HTML for people, documented in `docs/console.md`,
/// not API operations: they are left out here (`admin_guard.rs` walks them).
fn router_paths(app: &TestApp) -> BTreeSet<String> {
    let mut paths = app.router_paths();
    paths.retain(|p| p != "/console" && !p.starts_with("/console/"));
    for known in ["/healthz", "/webhooks/{tenant}/{source}", "/admin/v1/links"] {
        assert!(paths.contains(known), "{known} not among {paths:?}");
    }
    paths
}

/// A concrete path for a template: parameters filled with values no resource has (delivery
/// ids are numbers, event ids UUIDs).
fn concrete(template: &str) -> String {
    let id = if template.contains("dead-letters") {
        "999999"
    } else {
        "0190a0a0-0000-7000-8000-000000000000"
    };
    template
        .split('/')
        .map(|seg| match seg {
            "{id}" => id,
            s if s.starts_with('{') => "zz",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_has_every_route_and_method_of_the_router() {
    let app = TestApp::spawn_with("delivery: { enabled: false }").await;
    let doc = document(&app).await;
    let mut routed = BTreeSet::new();
    for path in router_paths(&app) {
        for m in METHODS {
            let r = app
                .client
                .request(m.clone(), app.url(&concrete(&path)))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            // 405 is the router's "not with this method"; its 404 fallbacks (the gateway's and
            // the admin API's) say "no such endpoint" and "no such admin endpoint".
            let fallback = status == 404
                && body["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("no such") && d.ends_with("endpoint"));
            if status != 405 && !fallback {
                routed.insert(format!("{} {path}", m.as_str().to_lowercase()));
            }
        }
    }
    let documented: BTreeSet<String> = operations(&doc)
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routes the document lacks: {missing:?}");
    assert!(
        stale.is_empty(),
        "documented operations no route answers: {stale:?}"
    );
}

fn operations(doc: &Value) -> impl Iterator<Item = (String, String, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .filter(|(m, _)| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |(m, op)| (m.clone(), p.clone(), op))
        })
}

#[tokio::test]
async fn every_operation_has_an_id_a_tag_its_security_and_schemas_for_its_json_answers() {
    let doc: Value = serde_json::from_str(include_str!("../../src/http/openapi.json")).unwrap();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("top-level tags")
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    for (m, p, op) in operations(&doc) {
        let at = format!("{m} {p}");
        match op["operationId"].as_str() {
            Some(id) if ids.insert(id.to_owned()) => {}
            other => problems.push(format!("{at}: operationId {other:?} missing or repeated")),
        }
        let op_tags = op["tags"].as_array().map(Vec::as_slice).unwrap_or_default();
        if op_tags.is_empty()
            || op_tags
                .iter()
                .any(|t| !tags.contains(t.as_str().unwrap_or("")))
        {
            problems.push(format!("{at}: tags {op_tags:?} missing or not declared"));
        }
        let security: Vec<&str> = op["security"]
            .as_array()
            .map(|s| {
                s.iter()
                    .flat_map(|r| r.as_object().unwrap().keys())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        if security.iter().any(|s| !schemes.contains_key(*s)) {
            problems.push(format!(
                "{at}: security {security:?} names an undeclared scheme"
            ));
        }
        if p.starts_with("/admin/") && security != ["admin"] {
            problems.push(format!("{at}: admin operations need the admin scheme"));
        }
        if p.starts_with("/webhooks/") && security.len() < 4 {
            problems.push(format!(
                "{at}: every webhook authentication is a security scheme"
            ));
        }
        for (status, resp) in op["responses"].as_object().unwrap() {
            let content = resp["content"].as_object();
            let json_ok = content.is_some_and(|c| {
                c.iter()
                    .any(|(ct, v)| ct.contains("json") && v["schema"].is_object())
            });
            let bodiless = status == "204" || (p == "/metrics" && status == "200");
            if !json_ok && !bodiless {
                problems.push(format!("{at} {status}: no JSON schema for the answer"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The schema of `status` for the operation, wrapped so `#/components/…` resolves.
fn schema_for(doc: &Value, method: &str, template: &str, status: u16, ct: &str) -> Option<Value> {
    let resp = &doc["paths"][template][method]["responses"][status.to_string()];
    let content = resp["content"].as_object()?;
    let schema = content.get(ct).or_else(|| content.values().next())?["schema"].clone();
    Some(json!({ "components": doc["components"], "allOf": [schema] }))
}

/// Sends one request and checks its answer against the document; returns the body.
struct Checker<'a> {
    app: &'a TestApp,
    doc: Value,
    seen: BTreeMap<String, BTreeSet<u16>>,
    problems: Vec<String>,
}

impl Checker<'_> {
    async fn call(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
        auth: bool,
    ) -> (u16, Value) {
        let mut req = self.app.client.request(method.clone(), self.app.url(path));
        if auth {
            req = req.bearer_auth(TOKEN);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.check(method, template, req.send().await.unwrap())
            .await
    }

    /// [`Checker::call`] with the admin token and no body.
    async fn admin(&mut self, method: Method, template: &str, path: &str) -> (u16, Value) {
        self.call(method, template, path, None, true).await
    }

    async fn check(
        &mut self,
        method: Method,
        template: &str,
        r: reqwest::Response,
    ) -> (u16, Value) {
        let m = method.as_str().to_lowercase();
        let status = r.status().as_u16();
        let ct = header(&r, "content-type").unwrap_or_default();
        let ct = ct.split(';').next().unwrap().to_owned();
        let text = r.text().await.unwrap();
        let at = format!("{m} {template} -> {status}");
        self.seen
            .entry(format!("{m} {template}"))
            .or_default()
            .insert(status);
        if self.doc["paths"][template][&m]["responses"][status.to_string()].is_null() {
            self.problems
                .push(format!("{at}: status not documented ({text})"));
            return (status, Value::Null);
        }
        if !ct.contains("json") {
            return (status, Value::Null);
        }
        let body: Value = serde_json::from_str(&text).unwrap();
        match schema_for(&self.doc, &m, template, status, &ct) {
            None => self
                .problems
                .push(format!("{at}: JSON answer without a schema: {body}")),
            Some(schema) => {
                let v = jsonschema::validator_for(&schema).expect("schema compiles");
                for e in v.iter_errors(&body) {
                    self.problems
                        .push(format!("{at}: {} at {}: {body}", e, e.instance_path()));
                }
            }
        }
        (status, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_every_operation_validate_against_the_document() {
    use Method as M;
    let app = TestApp::spawn_with("delivery: { enabled: false }").await;
    let doc = document(&app).await;
    let mut c = Checker {
        app: &app,
        doc: doc.clone(),
        seen: BTreeMap::new(),
        problems: vec![],
    };

    // Probes and documents.
    for p in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        c.call(M::GET, p, p, None, false).await;
    }

    // Webhooks: accepted, a duplicate, refused, unknown, malformed.
    let wh = "/webhooks/{tenant}/{source}";
    let event = fixture("jira/cloud-issue-created.json");
    let signed = |body: &[u8]| itsm_bridge::http::auth::hub_signature(ACME_JIRA_SECRET, body);
    let r = app.post_jira("acme", &event, ACME_JIRA_SECRET, &[]).await;
    let (_, accepted) = c.check(M::POST, wh, r).await;
    let event_id = accepted["eventId"]
        .as_str()
        .expect("accepted has an eventId")
        .to_owned();
    let r = app.post_jira("acme", &event, "wrong-secret", &[]).await;
    c.check(M::POST, wh, r).await;
    let r = app.post("/webhooks/nobody/jira", event.clone(), &[]).await;
    c.check(M::POST, wh, r).await;
    let r = app
        .post(
            "/webhooks/acme/jira",
            b"{not json".to_vec(),
            &[("x-hub-signature", signed(b"{not json"))],
        )
        .await;
    c.check(M::POST, wh, r).await;
    // A parked event (the schema refuses an issue id that is not a string).
    let parked =
        serde_json::to_vec(&json!({"webhookEvent": "jira:issue_updated", "issue": {"id": true}}))
            .unwrap();
    let r = app.post_jira("acme", &parked, ACME_JIRA_SECRET, &[]).await;
    let (_, parked) = c.check(M::POST, wh, r).await;
    let parked_id = parked["eventId"].as_str().unwrap_or_default().to_owned();

    // Admin: events.
    c.call(M::GET, "/admin/v1/events", "/admin/v1/events", None, false)
        .await;
    for query in ["limit=5", "state=parked", "limit=0"] {
        let path = format!("/admin/v1/events?{query}");
        c.admin(M::GET, "/admin/v1/events", &path).await;
    }
    let one = "/admin/v1/events/{id}";
    c.admin(M::GET, one, &format!("/admin/v1/events/{event_id}"))
        .await;
    c.admin(M::GET, one, &concrete(one)).await;
    let replay = "/admin/v1/events/{id}/replay";
    for id in [&event_id, &parked_id] {
        let path = format!("/admin/v1/events/{id}/replay");
        c.admin(M::POST, replay, &path).await;
    }
    c.admin(M::POST, replay, &concrete(replay)).await;
    let all = "/admin/v1/events/replay";
    c.call(M::POST, all, all, Some(json!({"tenant": "acme"})), true)
        .await;
    // Discard: the parked event (204), again and a routed one (409), unknown, malformed.
    let discard = "/admin/v1/events/{id}/discard";
    for id in [&parked_id, &parked_id, &event_id] {
        let path = format!("/admin/v1/events/{id}/discard");
        c.admin(M::POST, discard, &path).await;
    }
    c.admin(M::POST, discard, &concrete(discard)).await;
    c.admin(M::POST, discard, "/admin/v1/events/not-an-id/discard")
        .await;
    let (_, listed) = c
        .admin(
            M::GET,
            "/admin/v1/events",
            "/admin/v1/events?state=discarded",
        )
        .await;
    assert_eq!(
        listed["events"][0]["id"], parked_id,
        "the discarded event is listed as such: {listed}"
    );

    // Links and deliveries waiting for one.
    let links = "/admin/v1/links";
    let link =
        json!({"tenant": "acme", "ticket": "SYS1", "orangeId": "INC-1", "source": "servicenow"});
    c.call(M::POST, links, links, Some(link.clone()), true)
        .await;
    c.call(M::POST, links, links, Some(link), true).await;
    let other =
        json!({"tenant": "acme", "ticket": "SYS1", "orangeId": "INC-2", "source": "servicenow"});
    c.call(M::POST, links, links, Some(other), true).await;
    c.call(M::POST, links, links, Some(json!({"tenant": "acme"})), true)
        .await;
    c.call(
        M::POST,
        links,
        links,
        Some(json!({"tenant": "nobody", "ticket": "x", "orangeId": "y"})),
        true,
    )
    .await;
    c.admin(M::GET, links, links).await;
    c.admin(M::GET, links, "/admin/v1/links?tenant=acme&limit=1")
        .await;
    c.admin(M::GET, "/admin/v1/waiting-link", "/admin/v1/waiting-link")
        .await;

    // The timeline of a ticket.
    let t = "/admin/v1/tickets/{tenant}/{ticket}";
    c.admin(M::GET, t, "/admin/v1/tickets/acme/SYS1").await;
    c.admin(M::GET, t, "/admin/v1/tickets/acme/no-such-ticket")
        .await;

    // Reload.
    c.admin(M::GET, "/admin/v1/reload", "/admin/v1/reload")
        .await;
    c.admin(M::POST, "/admin/v1/reload", "/admin/v1/reload")
        .await;

    // The audit log (the actions above are in it), one page, and a query that does not parse.
    let audit = "/admin/v1/audit";
    c.admin(M::GET, audit, audit).await;
    c.admin(M::GET, audit, "/admin/v1/audit?tenant=acme&limit=1")
        .await;
    c.admin(M::GET, audit, "/admin/v1/audit?before=soon").await;

    // Each tenant at a glance: all, one, one the config does not have, a bad tenant id.
    let ov = "/admin/v1/overview";
    c.admin(M::GET, ov, ov).await;
    let (status, one) = c.admin(M::GET, ov, "/admin/v1/overview?tenant=acme").await;
    assert_eq!(
        (status, one["tenants"][0]["tenant"].as_str()),
        (200, Some("acme"))
    );
    let (status, _) = c
        .admin(M::GET, ov, "/admin/v1/overview?tenant=nobody")
        .await;
    assert_eq!(status, 404);
    c.admin(M::GET, ov, "/admin/v1/overview?tenant=NOT%20ONE")
        .await;

    // Dead letters (none here: the list, 404s and an empty replay).
    let dl = "/admin/v1/dead-letters";
    c.admin(M::GET, dl, dl).await;
    let dl1 = "/admin/v1/dead-letters/{id}";
    c.admin(M::GET, dl1, &concrete(dl1)).await;
    c.admin(M::DELETE, dl1, &concrete(dl1)).await;
    let dlr = "/admin/v1/dead-letters/{id}/replay";
    c.admin(M::POST, dlr, &concrete(dlr)).await;
    c.call(
        M::POST,
        "/admin/v1/dead-letters/replay",
        "/admin/v1/dead-letters/replay",
        Some(json!({})),
        true,
    )
    .await;

    // Every documented operation was driven.
    let driven: BTreeSet<String> = c.seen.keys().cloned().collect();
    let undriven: Vec<String> = operations(&doc)
        .map(|(m, p, _)| format!("{m} {p}"))
        .filter(|o| !driven.contains(o))
        .collect();
    let report = c
        .seen
        .iter()
        .map(|(k, v)| format!("{k}: {v:?}"))
        .collect::<Vec<_>>()
        .join("\n");
    if std::env::var_os("OPENAPI_DUMP").is_some() {
        eprintln!("{report}");
    }
    assert!(
        undriven.is_empty(),
        "operations the test does not drive: {undriven:?}"
    );
    assert!(
        c.problems.is_empty(),
        "{}\n\n{report}",
        c.problems.join("\n")
    );
}
