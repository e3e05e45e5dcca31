//! Command-line conventions of the binary: `--config` before or after any subcommand, a
//! closed stdout pipe ends quietly (no panic, not exit 101), shell completions, `--version`.

use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::support::cli::{BIN, OrangeCli, run, stderr};

/// A gateway config on a temporary SQLite file with the repository's mappings.
fn gateway_config(dir: &std::path::Path) -> std::path::PathBuf {
    crate::support::cli::default_config_file(dir, "gw.yaml", None)
}

#[tokio::test]
async fn config_is_accepted_before_and_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let config = gateway_config(dir.path());
    let c = config.to_str().unwrap();
    for args in [
        vec!["dlq", "list", "--config", c],
        vec!["dlq", "--config", c, "list"],
        vec!["--config", c, "dlq", "list"],
        vec!["events", "list", "--limit", "5", "--config", c],
        vec!["purge", "--dry-run", "--config", c],
    ] {
        let out = run(&args, None).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    // The option is read where it stands: a missing file is named.
    let out = run(&["dlq", "list", "--config", "/nonexistent/gw.yaml"], None).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/gw.yaml"),
        "{}",
        stderr(&out)
    );
}

/// Spawns the binary, reads one byte of its stdout and closes the pipe; answers the exit code
/// and stderr. The outputs used are larger than a pipe's buffer, so the writer meets the
/// closed pipe.
async fn read_one_byte_then_close(args: &[&str]) -> (Option<i32>, String) {
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("ITSM_BRIDGE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    stdout
        .read_exact(&mut byte)
        .await
        .expect("one byte of output");
    drop(stdout);
    let out = child.wait_with_output().await.unwrap();
    (out.status.code(), stderr(&out))
}

#[tokio::test]
async fn a_closed_pipe_ends_the_command_quietly() {
    // completions: about 200 KB of script.
    let (code, err) = read_one_byte_then_close(&["completions", "bash"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // orange: 300 incidents as JSON lines, written page after page.
    let cli = OrangeCli::start().await;
    let padding = "x".repeat(200);
    for i in 0..300 {
        let body = serde_json::json!({"shortDescription": format!("incident {i} {padding}")});
        cli.sim.create_incident(body).await;
    }
    let config = cli.config.to_str().unwrap();
    let (code, err) =
        read_one_byte_then_close(&["orange", "incidents", "list", "--config", config]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // map: a short output, so its stdout is a pipe already closed when it starts.
    let repo = crate::support::repo();
    let mapping = repo.join("mappings/demo/servicenow-incident.yaml");
    let event = repo.join("mappings/demo/events/servicenow/incident-insert.json");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = tokio::process::Command::new(BIN)
        .args(["map", "--mapping", mapping.to_str().unwrap()])
        .args(["--event", event.to_str().unwrap()])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn completions_cover_the_command_tree() {
    let out = run(&["completions", "bash"], None).await;
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    for word in [
        "itsm-bridge",
        "orange",
        "core-info",
        "service-points",
        "freeze-periods",
        "--config",
    ] {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    // Syntax-checked by bash itself where there is one.
    let path = std::env::temp_dir().join(format!(
        "itsm-bridge-completion-{}.bash",
        std::process::id()
    ));
    std::fs::write(&path, &script).unwrap();
    match tokio::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .await
    {
        Ok(check) => assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        ),
        Err(e) => eprintln!("SKIPPED: bash -n of the completion script: {e}"),
    }
    let _ = std::fs::remove_file(&path);
    for shell in ["zsh", "fish"] {
        let out = run(&["completions", shell], None).await;
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("orange"),
            "{shell}"
        );
    }
    let bad = run(&["completions", "tcsh"], None).await;
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn version_names_the_crate_version_and_the_git_revision() {
    let out = run(&["--version"], None).await;
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8(out.stdout).unwrap();
    let line = line.trim();
    let rest = line
        .strip_prefix(&format!("itsm-bridge {} (git ", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{line}"));
    let rev = rest.strip_suffix(')').unwrap_or_else(|| panic!("{line}"));
    assert!(
        rev == "unknown" || (!rev.is_empty() && rev.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
}
