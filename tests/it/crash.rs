//! Crash safety of the intake: the real binary, under concurrent load, is killed with SIGKILL;
//! after a restart every event that got a 202 is in the store, exactly once.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;

use crate::support::sandbox::free_port;
use crate::support::*;

struct Gateway {
    child: Child,
    base: String,
}

impl Gateway {
    fn start(config: &std::path::Path, port: u16) -> Gateway {
        let child = Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gateway binary starts");
        Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway did not become ready");
    }

    fn kill9(&mut self) {
        // SIGKILL: no shutdown hook, no flush.
        let _ = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(i: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "operation": "update",
        "sys_id": format!("{:032x}", 0x00c0_ffee_0000_u64 + (i as u64 % 40)),
        "sys_mod_count": (i / 40).to_string(),
        "number": format!("INC{:07}", i % 40),
        "short_description": format!("crash test event {i} – ✓"),
        "state": "2", "impact": "2", "urgency": "2",
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_webhooks_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, test_config_yaml(dir.path(), "")).unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{ACME_SN_USER}:{ACME_SN_PASSWORD}"))
    );

    let port = free_port();
    let mut gw = Gateway::start(&config, port);
    gw.wait_ready(&client).await;

    // 8 concurrent senders post distinct events until the gateway dies under them.
    let acked: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (client, acked, next, auth) =
            (client.clone(), acked.clone(), next.clone(), auth.clone());
        let url = format!("{}/webhooks/acme/servicenow", gw.base);
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 20_000 {
                    return;
                }
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("authorization", &auth)
                    .body(event(i))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 202 => {
                        let v: serde_json::Value = match r.json().await {
                            Ok(v) => v,
                            Err(_) => return, // died mid-answer: not acknowledged
                        };
                        acked
                            .lock()
                            .unwrap()
                            .push((i, v["eventId"].as_str().unwrap().to_owned()));
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => return, // the gateway is gone
                }
            }
        }));
    }
    // Let load build up, then kill in the middle of it.
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if acked.lock().unwrap().len() >= 300 {
            break;
        }
    }
    gw.kill9();
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "load reached the gateway before the kill ({} acks)",
        acked.len()
    );

    // Restart on the same store: every acknowledged event is there, exactly once.
    let mut gw = Gateway::start(&config, port);
    gw.wait_ready(&client).await;
    for (i, id) in &acked {
        let r = client
            .post(format!("{}/webhooks/acme/servicenow", gw.base))
            .header("content-type", "application/json")
            .header("authorization", &auth)
            .body(event(*i))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            v["duplicate"], true,
            "event {i} acknowledged before the crash must be stored"
        );
        assert_eq!(
            v["eventId"].as_str().unwrap(),
            id,
            "event {i} is stored once, under its first id"
        );
        let r = client
            .get(format!("{}/admin/v1/events/{id}", gw.base))
            .bearer_auth("test-admin-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "event {id} readable after restart");
    }
    gw.kill9();
}
