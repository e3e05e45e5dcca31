//! `itsm-bridge orange …` run as a binary against the simulator, with a client-only config:
//! the Postman guide's four use cases, every command of the four APIs, exit codes and output.

use serde_json::{Value, json};

use crate::support::cli::{OrangeCli, lines, run, stderr};

const INCIDENTS: &str = "/incident/b2b/v1/incidents";
const SEARCH: &str = "/troubleticket/wholesale/v1/troubleTickets";

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Runs `args`: the lines it printed, and the query strings of the calls it made on `path`.
async fn ok_with_queries(cli: &OrangeCli, args: &[&str], path: &str) -> (Vec<Value>, Vec<String>) {
    let mark = cli.mark();
    let printed = cli.ok(args).await;
    (printed, cli.queries(mark, path))
}

/// 30 incidents: every third in GB, every other P1.
async fn seed_incidents(cli: &OrangeCli) {
    for i in 0..30 {
        let country = if i % 3 == 0 { "GB" } else { "FR" };
        let priority = if i % 2 == 0 { "P1" } else { "P2" };
        cli.sim
            .create_incident(
                json!({"shortDescription": format!("down {i}"), "priority": priority,
                "location": {"address": {"country": country}}}),
            )
            .await;
    }
}

#[tokio::test]
async fn postman_use_cases_list_all_filter_page_and_get_incidents() {
    let cli = OrangeCli::start().await;
    seed_incidents(&cli).await;

    // 1. Get all my incidents: every page is read (pages of 7 here: 5 calls).
    let (all, pages) =
        ok_with_queries(&cli, &["incidents", "list", "--page-size", "7"], INCIDENTS).await;
    assert_eq!(all.len(), 30);
    let mut unique = ids(&all);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 30, "no incident twice");
    assert_eq!(
        pages,
        ["0", "7", "14", "21", "28"].map(|o| format!("offset={o}&limit=7"))
    );

    // 2. Filter: location.address.country=FR and priority=P1, positional or --filter.
    let args = [
        "incidents",
        "list",
        "location.address.country=FR",
        "--filter",
        "priority=P1",
    ];
    let (fr_p1, queries) = ok_with_queries(&cli, &args, INCIDENTS).await;
    assert_eq!(fr_p1.len(), 10);
    assert!(
        fr_p1
            .iter()
            .all(|i| i["priority"] == "P1" && i["location"]["address"]["country"] == "FR")
    );
    assert_eq!(
        queries[0],
        "location.address.country=FR&priority=P1&offset=0&limit=100"
    );

    // 3. Pagination: offset=10&limit=20&sort=-createdAt, sent as asked, one page.
    let args = [
        "incidents",
        "list",
        "--offset",
        "10",
        "--limit",
        "20",
        "--sort=-createdAt",
    ];
    let (page, queries) = ok_with_queries(&cli, &args, INCIDENTS).await;
    assert_eq!(queries, ["sort=-createdAt&offset=10&limit=20"]);
    let mut newest_first = all.clone();
    newest_first.sort_by(|a, b| {
        (b["createdAt"].as_str(), b["id"].as_str())
            .cmp(&(a["createdAt"].as_str(), a["id"].as_str()))
    });
    assert_eq!(page.len(), 20);
    let created: Vec<&str> = page
        .iter()
        .map(|i| i["createdAt"].as_str().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(
        created,
        newest_first[10..30]
            .iter()
            .map(|i| i["createdAt"].as_str().unwrap())
            .collect::<Vec<_>>()
    );

    // 4. Get details of an incident, by id.
    let id = all[3]["id"].as_str().unwrap();
    let one = cli.ok(&["incidents", "get", id]).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0], all[3]);
}

#[tokio::test]
async fn incident_commands_create_update_note_attach_freeze_and_aggregate() {
    let cli = OrangeCli::start().await;
    // Create from stdin, update from a file.
    let out = cli
        .orange_with_stdin(
            &["incidents", "create", "--body", "-"],
            Some(br#"{"shortDescription": "router down", "priority": "P2"}"#),
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let created = &lines(&out)[0];
    let id = created["id"].as_str().expect("created id").to_owned();
    let patch = cli.dir.path().join("patch.json");
    std::fs::write(&patch, r#"{"urgency": "HIGH"}"#).unwrap();
    let updated = cli
        .ok(&[
            "incidents",
            "update",
            &id,
            "--body",
            patch.to_str().unwrap(),
        ])
        .await;
    assert_eq!(updated[0]["urgency"], "HIGH");
    let read = cli.ok(&["incidents", "get", &id]).await;
    assert_eq!(read[0]["urgency"], "HIGH");

    // Notes.
    cli.ok(&[
        "incidents",
        "notes",
        "add",
        &id,
        "--text",
        "rebooted the router",
    ])
    .await;
    let notes = cli.ok(&["incidents", "notes", "list", &id]).await;
    assert!(
        notes.iter().any(|n| n["text"] == "rebooted the router"),
        "{notes:?}"
    );

    // Attachments: upload a local file, list it, download it back byte for byte.
    let file = cli.dir.path().join("trace.log");
    let content = b"line 1\nline 2\n\x00binary tail";
    std::fs::write(&file, content).unwrap();
    let uploaded = cli
        .ok(&[
            "incidents",
            "attachments",
            "upload",
            &id,
            file.to_str().unwrap(),
        ])
        .await;
    let att = uploaded[0]["id"]
        .as_str()
        .expect("attachment id")
        .to_owned();
    let listed = cli.ok(&["incidents", "attachments", "list", &id]).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "trace.log");
    assert_eq!(listed[0]["mimeType"], "text/plain");
    let copy = cli.dir.path().join("copy.log");
    cli.ok(&[
        "incidents",
        "attachments",
        "get",
        &id,
        &att,
        "--out",
        copy.to_str().unwrap(),
    ])
    .await;
    assert_eq!(std::fs::read(&copy).unwrap(), content);
    let to_stdout = cli
        .orange(&["incidents", "attachments", "get", &id, &att])
        .await;
    assert_eq!(to_stdout.stdout, content);

    // Freeze periods (one set by Orange's side) and aggregation.
    cli.sim
        .control(&format!("/_sim/incidents/{id}/freezePeriods"), json!({}))
        .await;
    let periods = cli.ok(&["incidents", "freeze-periods", &id]).await;
    assert_eq!(periods.len(), 1);
    assert!(periods[0]["startDate"].is_string());
    cli.sim
        .create_incident(json!({"shortDescription": "x", "priority": "P1"}))
        .await;
    let counts = cli
        .ok(&["incidents", "aggregation", "--group-by", "priority"])
        .await;
    assert_eq!(
        counts,
        [
            json!({"priority": "P1", "count": 1}),
            json!({"priority": "P2", "count": 1})
        ]
    );
    let p1 = cli
        .ok(&[
            "incidents",
            "aggregation",
            "--group-by",
            "priority",
            "priority=P1",
        ])
        .await;
    assert_eq!(p1, [json!({"priority": "P1", "count": 1})]);
}

#[tokio::test]
async fn trouble_ticket_commands_create_comment_get_and_search_every_page() {
    let cli = OrangeCli::start().await;
    let numbers = cli.ok(&["tickets", "service-numbers"]).await;
    let ld = numbers[0]["orangeServiceNumbers"][0]["orangeServiceNumber"]
        .as_str()
        .expect("a service number")
        .to_owned();
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = json!({"description": format!("link {i} down"), "externalId": format!("INC{i}"),
            "relatedEntity": [{"id": ld, "role": "orangeServiceNumber"}]});
        let out = cli
            .orange_with_stdin(
                &["tickets", "create", "--body", "-"],
                Some(body.to_string().as_bytes()),
            )
            .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        ids.push(
            lines(&out)[0]["ticketId"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    cli.ok(&[
        "tickets",
        "comment",
        &ids[0],
        "--text",
        "still down",
        "--service-number",
        &ld,
    ])
    .await;
    let ticket = cli.ok(&["tickets", "get", &ids[0]]).await;
    assert_eq!(ticket[0]["id"], ids[0].as_str());
    assert!(
        ticket[0]["note"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["text"] == "still down"),
        "{ticket:?}"
    );

    // Search reads every page: 5 tickets in pages of 2 are 3 calls.
    let by_number = format!("orangeServiceNumber={ld}");
    let args = [
        "tickets",
        "search",
        "status=submitted",
        &by_number,
        "--page-size",
        "2",
    ];
    let (found, pages) = ok_with_queries(&cli, &args, SEARCH).await;
    let mut got: Vec<String> = found
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[2].ends_with("page=3&pageSize=2"), "{pages:?}");
    assert!(pages[0].starts_with("ctxid=TCKTNG&sctxid=wse&status=submitted"));
}

#[tokio::test]
async fn core_information_and_ordering_commands_list_and_get() {
    let cli = OrangeCli::start().await;
    for collection in [
        "accounts",
        "locations",
        "service-points",
        "configuration-items",
    ] {
        let all = cli.ok(&["core-info", collection, "list"]).await;
        assert!(!all.is_empty(), "{collection} has seeded items");
        let id = all[0]["id"].as_str().expect("an id");
        let one = cli.ok(&["core-info", collection, "get", id]).await;
        assert_eq!(one, [all[0].clone()], "{collection}");
        let page = cli
            .ok(&["core-info", collection, "list", "--limit", "1"])
            .await;
        assert_eq!(page.len(), 1);
    }
    let catalog = cli.ok(&["ordering", "catalog-items", "list"]).await;
    assert_eq!(catalog.len(), 3);
    let item = catalog[0]["id"].as_str().unwrap();
    assert_eq!(
        cli.ok(&["ordering", "catalog-items", "get", item]).await,
        [catalog[0].clone()]
    );
    let out = cli
        .orange_with_stdin(
            &["ordering", "requests", "create", "--body", "-"],
            Some(br#"{"customerReference": "PO-77"}"#),
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = lines(&out)[0]["id"].as_str().unwrap().to_owned();
    let listed = cli
        .ok(&["ordering", "requests", "list", "customerReference=PO-77"])
        .await;
    assert_eq!(ids(&listed), std::slice::from_ref(&id));
    let one = cli.ok(&["ordering", "requests", "get", &id]).await;
    assert_eq!(one[0]["customerReference"], "PO-77");
}

#[tokio::test]
async fn status_shows_the_four_apis_with_their_versions() {
    let cli = OrangeCli::start().await;
    let rows = cli.ok(&["status"]).await;
    let apis: Vec<&str> = rows.iter().map(|r| r["api"].as_str().unwrap()).collect();
    assert_eq!(
        apis,
        ["incident", "trouble_ticket", "core_information", "ordering"]
    );
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    assert_eq!(rows[0]["version"], "1.3");
    assert_eq!(rows[3]["version"], "3.1");
}

#[tokio::test]
async fn refusals_exit_1_with_oranges_code_and_usage_errors_exit_2() {
    let cli = OrangeCli::start().await;
    let missing = cli.orange(&["incidents", "get", "2601M99999"]).await;
    assert_eq!(missing.status.code(), Some(1));
    let err = stderr(&missing);
    assert!(
        err.contains("404") && err.contains("Orange code 60"),
        "{err}"
    );
    assert!(missing.stdout.is_empty());

    let bad_filter = cli.orange(&["incidents", "list", "priority"]).await;
    assert_eq!(bad_filter.status.code(), Some(2));
    assert!(stderr(&bad_filter).contains("expected PATH=VALUE"));
    let bad_body = cli
        .orange_with_stdin(&["incidents", "create", "--body", "-"], Some(b"{not json"))
        .await;
    assert_eq!(bad_body.status.code(), Some(2));
    assert!(stderr(&bad_body).contains("<stdin>: not JSON"));
    let tenant = cli.orange(&["--tenant", "globex", "status"]).await;
    assert_eq!(tenant.status.code(), Some(2));
    assert!(stderr(&tenant).contains("no tenant \"globex\""));
    let flag = cli.orange(&["incidents", "list", "--offset", "x"]).await;
    assert_eq!(flag.status.code(), Some(2));

    // The client-only config is for the client: the gateway still wants a webhook source.
    let config = cli.config.to_str().unwrap();
    let check = run(&["check", "--config", config], None).await;
    assert_eq!(check.status.code(), Some(1));
    assert!(stderr(&check).contains("tenants[0].sources"));
}

#[tokio::test]
async fn table_output_has_a_header_and_one_aligned_row_per_item() {
    let cli = OrangeCli::start().await;
    seed_incidents(&cli).await;
    let config = cli.config.to_str().unwrap();
    let out = run(
        &[
            "orange",
            "--config",
            config,
            "--output",
            "table",
            "incidents",
            "list",
            "priority=P2",
        ],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 16, "{text}");
    assert!(rows[0].starts_with("id "), "{}", rows[0]);
    let status_at = rows[0].find("status").expect("a status column");
    assert!(
        rows[1..]
            .iter()
            .all(|r| r[status_at..].starts_with("SUBMITTED"))
    );
}
