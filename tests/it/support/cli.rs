//! Running the real `itsm-bridge` binary as a user would: the `orange …` client against an
//! in-process simulator with a client-only config (a tenant with Orange credentials and no
//! webhook source).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::{SANDBOX_ORANGE_YAML, repo};
use crate::sim_support::Sim;

pub const BIN: &str = env!("CARGO_BIN_EXE_itsm-bridge");

/// The binary with `args`, run to its end (asynchronously: the simulator answers from this
/// test's runtime).
pub async fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env_remove("ITSM_BRIDGE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("itsm-bridge starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin {
        input.write_all(bytes).await.expect("stdin written");
    }
    drop(input);
    child.wait_with_output().await.expect("itsm-bridge runs")
}

/// Stdout as JSON lines.
pub fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line {l:?}: {e}")))
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The shipped `config/default.yaml` written to `dir/name`, on a SQLite file in `dir` and the
/// repository's mappings, its simulators at `sim` when given; the file's path.
pub fn default_config_file(dir: &Path, name: &str, sim: Option<&str>) -> PathBuf {
    let mut yaml = std::fs::read_to_string(repo().join("config/default.yaml"))
        .unwrap()
        .replace(
            "sqlite://./data/itsm-bridge.db",
            &format!("sqlite://{}", dir.join("gw.db").display()),
        )
        .replace(
            "mappings_dir: ./mappings",
            &format!("mappings_dir: {}", repo().join("mappings").display()),
        );
    if let Some(url) = sim {
        yaml = yaml.replace("http://127.0.0.1:8081", url);
    }
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A simulator and a client-only config file pointing at it.
pub struct OrangeCli {
    pub sim: Sim,
    pub config: PathBuf,
    pub dir: tempfile::TempDir,
}

impl OrangeCli {
    pub async fn start() -> Self {
        let sim = Sim::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("client.yaml");
        let yaml = format!(
            "orange:
  base_url: {}
tenants:
  - id: acme
    orange:
{SANDBOX_ORANGE_YAML}
      application_id: sandbox-app
",
            sim.handle.base_url()
        );
        std::fs::write(&config, yaml).expect("config written");
        Self { sim, config, dir }
    }

    /// `itsm-bridge orange ARGS… --output json --config F` (options after the subcommand).
    pub async fn orange(&self, args: &[&str]) -> Output {
        self.orange_with_stdin(args, None).await
    }

    pub async fn orange_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let config = self.config.to_str().expect("utf-8 path");
        let mut all = vec!["orange"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--output", "json", "--config", config]);
        run(&all, stdin).await
    }

    /// Like [`Self::orange`], asserting exit 0; answers the JSON lines.
    pub async fn ok(&self, args: &[&str]) -> Vec<Value> {
        let out = self.orange(args).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "orange {args:?} failed: {}",
            stderr(&out)
        );
        lines(&out)
    }

    /// The queries of the calls the simulator received on `path` since `since`.
    pub fn queries(&self, since: u64, path: &str) -> Vec<String> {
        self.sim
            .handle
            .journal(since)
            .into_iter()
            .filter(|e| e.path == path && e.method == "GET")
            .map(|e| e.query.unwrap_or_default())
            .collect()
    }

    /// The journal's last sequence number.
    pub fn mark(&self) -> u64 {
        self.sim.handle.journal(0).last().map_or(0, |e| e.seq)
    }
}
