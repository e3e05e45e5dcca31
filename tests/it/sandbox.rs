//! `serve --sandbox` as a newcomer runs it: embedded defaults, no credentials, simulators
//! in-process; a ServiceNow webhook becomes an incident at the simulated Orange.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::repo;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_runs_the_whole_loop_on_embedded_defaults() {
    // A fresh working directory with the shipped mappings, as after `git clone`.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("mappings"), dir.path().join("mappings")).unwrap();
    let (port, sim_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
        .args([
            "serve",
            "--sandbox",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--sim-listen", &format!("127.0.0.1:{sim_port}")])
        .current_dir(dir.path())
        .env_remove("ITSM_BRIDGE_CONFIG")
        .env_remove("ITSM_BRIDGE_LISTEN")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("gateway starts");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "sandbox gateway became ready");
    assert!(
        dir.path().join("data").is_dir(),
        "SQLite lives under ./data/"
    );

    // The README's curl, with the documented sandbox credentials.
    let body = std::fs::read(repo().join("tests/fixtures/ingress/servicenow-incident-update.json"))
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["operation"] = "insert".into();
    v["sys_mod_count"] = "0".into();
    let r = client
        .post(format!("{base}/webhooks/demo/servicenow"))
        .basic_auth("servicenow", Some("sandbox-servicenow-password"))
        .json(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());

    // The incident reaches the simulated Orange, found by its external reference.
    let sim = format!("http://127.0.0.1:{sim_port}");
    let mut found = None;
    for _ in 0..100 {
        let j: serde_json::Value = client
            .get(format!(
                "{sim}/_sim/journal?method=POST&path_prefix=/incident/b2b/v1/incidents"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let created = j
            .as_array()
            .map(|a| a.iter().filter(|e| e["status"] == 201).count())
            .unwrap_or(0);
        if created > 0 {
            found = Some(created);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        found,
        Some(1),
        "one incident created at the simulated Orange"
    );
}
