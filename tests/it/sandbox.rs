//! `serve --sandbox` as a newcomer runs it: embedded defaults, no credentials, simulators
//! in-process; a ServiceNow webhook becomes an incident at the simulated Orange.

use std::time::Duration;

use crate::support::sandbox::Sandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_runs_the_whole_loop_on_embedded_defaults() {
    // A fresh working directory with the shipped mappings, as after `git clone`; it panics
    // unless the gateway becomes ready.
    let sandbox = Sandbox::start(&[]).await;
    assert!(
        sandbox.dir.path().join("data").is_dir(),
        "SQLite lives under ./data/"
    );

    // The README's curl, with the documented sandbox credentials.
    let r = sandbox.post_servicenow_insert().await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());

    // The incident reaches the simulated Orange, found by its external reference.
    let mut found = None;
    for _ in 0..100 {
        let j = sandbox.journal("POST", "/incident/b2b/v1/incidents").await;
        let created = j.iter().filter(|e| e["status"] == 201).count();
        if created > 0 {
            found = Some(created);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(sandbox);
    assert_eq!(
        found,
        Some(1),
        "one incident created at the simulated Orange"
    );
}
