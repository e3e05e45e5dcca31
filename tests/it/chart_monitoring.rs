//! The chart's monitoring: the opt-in PrometheusRule rendered with every value it has, checked
//! against a strict schema of the CRD's fields (kubernetes-validate has no CRDs:
//! `scripts/helm_offline.py`) and its rules by `promtool check rules` (SKIPPED without
//! promtool); and the alerts and the Grafana dashboard name only families `/metrics` has,
//! the new ones included.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Command;

use itsm_bridge::telemetry::families::{FAMILIES, Kind, family};
use serde_json::{Value, json};

use crate::chart::{helm_python, lint_and_render};
use crate::support::repo;

#[test]
fn prometheus_rule_renders_with_every_value_validates_and_passes_promtool() {
    let Some(python) = helm_python() else { return };
    let values = json!({ "prometheusRule": {
        "enabled": true,
        "labels": { "release": "kube-prometheus-stack" },
        "namespace": "monitoring",
        "additionalLabels": { "team": "itsm" },
        "deadLetters": { "for": "1m", "severity": "critical" },
        "oldestPending": { "seconds": 600, "for": "5m", "severity": "critical" },
        "webhooksRejected": { "perSecond": 0.2, "for": "10m", "severity": "info" },
        "mappingRefused": { "for": "20m", "severity": "warning" },
        "pollReadsFailing": { "for": "1h", "severity": "warning" },
    }});
    let m = lint_and_render(python, &values);
    let rule = &m["prometheusrule.yaml"];
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(rule["metadata"]["namespace"], "monitoring");
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let rules = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules");
    let alert = |name: &str| {
        rules
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("no {name} in {rules:#?}"))
    };
    assert_eq!(alert("ItsmBridgeDeadLetters")["for"], "1m");
    assert_eq!(
        alert("ItsmBridgeDeadLetters")["labels"]["severity"],
        "critical"
    );
    let aging = alert("ItsmBridgeDeliveryBacklogAging");
    assert!(
        aging["expr"].as_str().unwrap().ends_with("> 600"),
        "{aging}"
    );
    assert_eq!(aging["for"], "5m");
    let rejected = alert("ItsmBridgeWebhooksRejected");
    assert!(
        rejected["expr"].as_str().unwrap().contains("> 0.2"),
        "{rejected}"
    );
    assert_eq!(rejected["labels"]["severity"], "info");
    assert_eq!(alert("ItsmBridgeMappingRefused")["for"], "20m");
    assert_eq!(alert("ItsmBridgePollReadsFailing")["for"], "1h");
    for r in rules {
        assert_eq!(r["labels"]["team"], "itsm", "{r}");
        // This release's series only: the ServiceMonitor's job is the Service's name.
        let expr = r["expr"].as_str().unwrap();
        assert!(
            expr.contains(r#"namespace="itsm", job="gw-itsm-bridge""#),
            "{expr}"
        );
        assert!(
            r["annotations"]["summary"].is_string() && r["annotations"]["description"].is_string()
        );
    }
    promtool_check_rules(&rule["spec"]);
}

/// `promtool check rules` on the rule's `spec` (the rules-file format): PromQL that parses,
/// templates in annotations that parse, durations that are durations.
fn promtool_check_rules(spec: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    // JSON is YAML.
    std::fs::File::create(&file)
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = match Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "SKIPPED: promtool not runnable ({e})");
            return;
        }
    };
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The metric names a PromQL text uses (histogram series mapped to their family).
fn families_named(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for prefix in ["itsm_bridge_", "process_"] {
        for (at, _) in text.match_indices(prefix) {
            if text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| family(b).is_some_and(|f| f.kind == Kind::Histogram));
            names.insert(base.map_or(name.clone(), str::to_owned));
        }
    }
    names
}

#[test]
fn alerts_and_dashboard_name_only_exported_families_and_show_the_new_ones() {
    let chart = repo().join("charts/itsm-bridge");
    let dashboard = std::fs::read_to_string(chart.join("dashboards/itsm-bridge.json")).unwrap();
    let rules = std::fs::read_to_string(chart.join("templates/prometheusrule.yaml")).unwrap();
    let d: Value = serde_json::from_str(&dashboard).unwrap();
    let exprs: String = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("\n");
    let shown = families_named(&exprs);
    let alerted = families_named(&rules);
    let unknown: Vec<_> = shown
        .iter()
        .chain(&alerted)
        .filter(|n| family(n).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "not exported by the gateway: {unknown:?}"
    );
    for new in [
        "itsm_bridge_build_info",
        "itsm_bridge_http_request_seconds",
        "itsm_bridge_itsm_request_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
    ] {
        assert!(shown.contains(new), "the dashboard does not show {new}");
    }
    assert!(
        FAMILIES.len() > shown.len(),
        "sanity: the table is the larger set"
    );
}
