//! `serve --sandbox` as a child process on free ports, in a fresh working directory with the
//! shipped mappings: a gateway whose process (and so whose metrics recorder and log
//! subscriber) is its own. Its log (JSON lines: stderr is not a terminal) goes to a file the
//! test can read.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::repo;

/// The sandbox's documented ServiceNow webhook credentials (README, "Sandbox secrets").
pub const SN_USER: &str = "servicenow";
pub const SN_PASSWORD: &str = "sandbox-servicenow-password";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running sandbox; killed when dropped.
pub struct Sandbox {
    pub base: String,
    pub sim: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Sandbox {
    /// Starts the sandbox with `env` added to its environment and waits until it is ready.
    pub async fn start(env: &[(&str, &str)]) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(repo().join("mappings"), dir.path().join("mappings")).unwrap();
        let (port, sim_port) = (free_port(), free_port());
        let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
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
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("gateway starts");
        let sandbox = Sandbox {
            base: format!("http://127.0.0.1:{port}"),
            sim: format!("http://127.0.0.1:{sim_port}"),
            client: reqwest::Client::new(),
            dir,
            child,
        };
        for _ in 0..400 {
            let ready = sandbox.client.get(sandbox.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return sandbox;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sandbox gateway did not become ready");
    }

    /// The log lines so far, parsed (lines that are not JSON are left out).
    pub fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("gateway.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts the README's ServiceNow insert (a new incident) with the sandbox credentials.
    pub async fn post_servicenow_insert(&self) -> reqwest::Response {
        let body =
            std::fs::read(repo().join("tests/fixtures/ingress/servicenow-incident-update.json"))
                .unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["operation"] = "insert".into();
        v["sys_mod_count"] = "0".into();
        self.client
            .post(self.url("/webhooks/demo/servicenow"))
            .basic_auth(SN_USER, Some(SN_PASSWORD))
            .json(&v)
            .send()
            .await
            .unwrap()
    }

    /// The simulators' request journal entries for `method` under `path_prefix`.
    pub async fn journal(&self, method: &str, path_prefix: &str) -> Vec<serde_json::Value> {
        let j: serde_json::Value = self
            .client
            .get(format!(
                "{}/_sim/journal?method={method}&path_prefix={path_prefix}",
                self.sim
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        j.as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
