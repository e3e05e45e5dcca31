//! `/metrics` as Prometheus reads it: `promtool check metrics` clean on a fresh gateway and
//! after traffic, every family with HELP and TYPE, the build info, the process metrics, the
//! per-tenant series at zero before any traffic, HTTP requests by route and status, and the
//! Orange and ITSM call latencies once a webhook went round the sandbox.
//!
//! promtool comes from Debian's `prometheus` package (`.ci/run` installs it); without it the
//! promtool checks print SKIPPED and the rest still runs.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::sandbox::Sandbox;

/// `promtool check metrics` on `text`: `Some(problems)` (empty when clean), `None` without
/// promtool.
fn promtool(text: &str) -> Option<String> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: promtool not runnable ({e}); install Debian's prometheus package"
            );
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() {
        String::new()
    } else {
        said
    })
}

async fn scrape(s: &Sandbox) -> String {
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The problems of a scrape promtool cannot see: a family without HELP.
fn undescribed(text: &str) -> Vec<String> {
    let helped: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|n| !helped.contains(n))
        .map(str::to_owned)
        .collect()
}

fn assert_clean(text: &str, when: &str) {
    assert_eq!(
        undescribed(text),
        Vec::<String>::new(),
        "{when}: families without HELP"
    );
    if let Some(problems) = promtool(text) {
        assert!(
            problems.is_empty(),
            "{when}: promtool check metrics:\n{problems}\n{text}"
        );
    }
}

/// The value of the series whose line starts with `series` (name and labels as rendered).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn has(text: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    text.lines().any(|l| {
        l.starts_with(name)
            && l[name.len()..].starts_with(['{', ' '])
            && labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_fresh_and_after_a_round_trip() {
    let s = Sandbox::start(&[]).await;

    let fresh = scrape(&s).await;
    assert_clean(&fresh, "fresh gateway");
    assert!(
        has(
            &fresh,
            "itsm_bridge_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        "{fresh}"
    );
    for process in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(has(&fresh, process, &[]), "{process} missing:\n{fresh}");
    }
    // Series alerts take rate() of exist at zero before anything happened.
    for (series, labels) in [
        (
            "itsm_bridge_webhooks_received_total",
            &[("tenant", "demo"), ("source", "servicenow")][..],
        ),
        (
            "itsm_bridge_webhooks_rejected_total",
            &[("reason", "unauthorized")][..],
        ),
        (
            "itsm_bridge_events_parked_total",
            &[("tenant", "demo"), ("reason", "mapping-rejected")][..],
        ),
        (
            "itsm_bridge_poll_read_failures_total",
            &[("tenant", "demo")][..],
        ),
        ("itsm_bridge_queue_depth", &[("state", "pending")][..]),
    ] {
        assert!(
            has(&fresh, series, labels),
            "{series}{labels:?} missing at start:\n{fresh}"
        );
    }
    assert_eq!(
        value(
            &fresh,
            "itsm_bridge_webhooks_received_total{tenant=\"demo\",source=\"servicenow\"}"
        ),
        Some(0.0)
    );

    // Traffic: a refused webhook, an unknown path, and one that goes round to Orange.
    let bad = s
        .client
        .post(s.url("/webhooks/demo/servicenow"))
        .basic_auth("servicenow", Some("wrong"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let missing = s.client.get(s.url("/nothing/here")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let r = s.post_servicenow_insert().await;
    assert_eq!(r.status(), 202);

    let mut after = String::new();
    for _ in 0..200 {
        after = scrape(&s).await;
        if has(
            &after,
            "itsm_bridge_orange_request_seconds_count",
            &[("api", "incident")],
        ) && has(
            &after,
            "itsm_bridge_itsm_request_seconds_count",
            &[("itsm", "servicenow")],
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_clean(&after, "after traffic");
    let webhook = [("route", "/webhooks/{tenant}/{source}"), ("method", "POST")];
    assert!(
        has(
            &after,
            "itsm_bridge_http_request_seconds_count",
            &[webhook[0], webhook[1], ("status", "202")]
        ),
        "{after}"
    );
    assert!(
        has(
            &after,
            "itsm_bridge_http_request_seconds_count",
            &[webhook[0], ("status", "401")]
        ),
        "{after}"
    );
    assert!(
        has(
            &after,
            "itsm_bridge_http_request_seconds_count",
            &[("route", "unmatched"), ("status", "404")]
        ),
        "{after}"
    );
    assert!(
        has(
            &after,
            "itsm_bridge_orange_request_seconds_count",
            &[("api", "incident")]
        ),
        "{after}"
    );
    assert!(
        has(
            &after,
            "itsm_bridge_itsm_request_seconds_count",
            &[("itsm", "servicenow")]
        ),
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            "itsm_bridge_webhooks_received_total{tenant=\"demo\",source=\"servicenow\"}"
        ),
        Some(1.0)
    );
}
