//! No secret in any message: every config error path the binary has (`check`, and `serve`'s
//! startup) is triggered with secrets filled in from the environment, and its whole output is
//! searched for them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::repo;

/// `(variable, value)`: what the configs below interpolate; no value may be printed.
const SECRETS: [(&str, &str); 5] = [
    ("ORANGE_SECRET", "QuotedEnvS3cret"),
    ("NUMERIC_SECRET", "98765432109876"),
    ("SN_PASSWORD", "pwpwpwpwpw"),
    ("DB_URL", "postgres://user:Pg#S3cret@127.0.0.1:1/itsm"),
    ("SHORT_ADMIN_TOKEN", "adm1n-t0ken"),
];

/// Pieces of the secrets that must not show either (the URL's password alone).
const NEEDLES: [&str; 6] = [
    "QuotedEnvS3cret",
    "98765432109876",
    "pwpwpwpwpw",
    "Pg#S3cret",
    "S3cret",
    "adm1n-t0ken",
];

fn base(dir: &Path) -> String {
    format!(
        r#"store:
  url: sqlite://{db}
mappings_dir: {mappings}
poller: {{enabled: false}}
tenants:
  - id: acme
    orange:
      client_id: sandbox
      client_secret: "${{ORANGE_SECRET}}"
      api_key: sandbox-api-key
    sources:
      servicenow:
        auth: [{{type: basic, username: u, password: "${{SN_PASSWORD}}"}}]
        mapping: demo/servicenow-incident.yaml
"#,
        db = dir.join("gw.db").display(),
        mappings = repo().join("mappings").display(),
    )
}

/// Broken configs, each with the error path it takes.
fn cases(dir: &Path) -> Vec<(&'static str, String)> {
    let b = base(dir);
    vec![
        (
            "YAML syntax error next to secrets",
            b.replace(
                "      api_key: sandbox-api-key\n",
                "     api_key: [sandbox\n",
            ),
        ),
        (
            "type error on an interpolated number",
            format!(
                "{b}    itsm: {{}}\ningress: {{max_body_bytes: ${{NUMERIC_SECRET}}0000000000}}\n"
            ),
        ),
        (
            "type error on an interpolated value",
            b.replace(
                "poller: {enabled: false}",
                "poller: {enabled: false, page_size: ${NUMERIC_SECRET}}",
            ),
        ),
        (
            "unknown key beside a secret",
            b.replace(
                "      api_key:",
                "      client_secrt: \"${ORANGE_SECRET}\"\n      api_key:",
            ),
        ),
        (
            "store URL with a scheme the gateway does not know",
            b.replace(
                &format!("sqlite://{}", dir.join("gw.db").display()),
                "mysql://root:${SN_PASSWORD}@db/x",
            ),
        ),
        (
            "validation problems",
            format!(
                "{b}admin: {{token: \"${{SHORT_ADMIN_TOKEN}}\"}}\norange: {{incident_path: \"${{SN_PASSWORD}}\"}}\n"
            ),
        ),
    ]
}

fn run(args: &[&str], config: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_itsm-bridge"));
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in SECRETS {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    // `serve` with a config it accepted would run until stopped: that is a failure here.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} did not stop on a broken config");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_clean(what: &str, args: &[&str], out: &Output) {
    let text = text(out);
    for needle in NEEDLES {
        assert!(
            !text.contains(needle),
            "{what}: `{}` printed {needle:?}:\n{text}",
            args.join(" ")
        );
    }
}

/// Writes `yaml` as `config.yaml` in `dir`: the file.
fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let file = dir.join("config.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

/// Runs `args` on `file`, asserting that it fails, prints no secret, and says `says`; `what`
/// names the case in the messages.
fn assert_refused(what: &str, args: &[&str], file: &Path, says: &str) {
    let out = run(args, file);
    assert!(!out.status.success(), "{what}: {args:?} accepted it");
    assert_clean(what, args, &out);
    let text = text(&out);
    assert!(
        text.contains(says),
        "{what}: {args:?} does not say {says:?}:\n{text}"
    );
}

#[test]
fn no_config_error_of_check_or_serve_prints_a_secret_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    for (what, yaml) in cases(dir.path()) {
        let file = write_config(dir.path(), &yaml);
        for args in [&["check"][..], &["serve", "--listen", "127.0.0.1:0"][..]] {
            // Where: the file, and the place in it.
            assert_refused(what, args, &file, "config.yaml:");
        }
    }
}

#[test]
fn a_store_url_that_does_not_parse_is_printed_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = base(dir.path()).replace(
        &format!("sqlite://{}", dir.path().join("gw.db").display()),
        "${DB_URL}",
    );
    let yaml = yaml.replace("url: ${DB_URL}", "url: \"${DB_URL}\"");
    let file = write_config(dir.path(), &yaml);
    let args = ["serve", "--listen", "127.0.0.1:0"];
    // Refused: the store is unreachable; the URL is shown redacted.
    assert_refused("unparsable store URL", &args, &file, "postgres://user:***@");
}

#[test]
fn check_and_serve_refuse_an_empty_admin_token_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}admin: {{token: \"${{UNSET_ADMIN_TOKEN:-}}\"}}\n",
        base(dir.path())
    );
    let file = write_config(dir.path(), &yaml);
    for args in [&["check"][..], &["serve", "--listen", "127.0.0.1:0"][..]] {
        let says = "config.yaml:admin.token: is empty";
        assert_refused("an empty admin token", args, &file, says);
    }
}
