//! The chart's pass-through values (extra volumes, env, sidecars, init containers, pod labels
//! and annotations, priority, topology spread), tenants in files and secrets as files (a
//! change to either does not roll the pods), the `helm test` hook, chart-testing's yamllint,
//! and the README generated from values.yaml. Same offline Helm engine as `chart.rs`; SKIPPED
//! when it cannot be installed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::chart::{
    CHART, assert_ran, check_rendered, config_yaml, container, helm_python, lint_and_render, named,
    repo, text,
};

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|a| a.iter().filter_map(|v| v["name"].as_str()).collect())
        .unwrap_or_default()
}

fn mount_paths(c: &Value) -> Vec<&str> {
    c["volumeMounts"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v["mountPath"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn every_pod_extra_renders_where_it_belongs_and_passes_strict_validation() {
    let Some(python) = helm_python() else { return };
    let values = json!({
        "extraEnv": [{"name": "SSL_CERT_FILE", "value": "/etc/ssl/corporate/ca.pem"}],
        "extraEnvFrom": [{"configMapRef": {"name": "proxy-settings"}}],
        "extraVolumes": [{"name": "corporate-ca", "configMap": {"name": "corporate-ca"}}],
        "extraVolumeMounts": [{"name": "corporate-ca", "mountPath": "/etc/ssl/corporate", "readOnly": true}],
        "sidecars": [{"name": "cloud-sql-proxy", "image": "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.0",
            "args": ["--port=5432", "project:region:instance"],
            "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}}],
        "initContainers": [{"name": "fetch-ca", "image": "registry.example.com/fetch-ca:1.0",
            "args": ["--out", "/etc/ssl/corporate"]}],
        "podLabels": {"team": "itsm"},
        "podAnnotations": {"example.com/owner": "itsm-team"},
        "priorityClassName": "business-critical",
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "itsm-bridge"}}}],
    });
    let m = lint_and_render(python, &values);
    let d = &m["deployment.yaml"];
    let template = &d["spec"]["template"];
    let pod = &template["spec"];
    assert_eq!(template["metadata"]["labels"]["team"], "itsm");
    assert_eq!(
        template["metadata"]["annotations"]["example.com/owner"],
        "itsm-team"
    );
    assert!(template["metadata"]["annotations"]["checksum/config"].is_string());
    assert_eq!(pod["priorityClassName"], "business-critical");
    assert_eq!(
        pod["topologySpreadConstraints"][0]["topologyKey"],
        "topology.kubernetes.io/zone"
    );
    assert!(names(&pod["volumes"]).contains(&"corporate-ca"));
    assert_eq!(names(&pod["initContainers"]), ["fetch-ca", "check"]);
    assert_eq!(
        names(&pod["containers"]),
        ["itsm-bridge", "cloud-sql-proxy"]
    );
    for c in [
        container(d, "/spec/template/spec/containers/0"),
        container(d, "/spec/template/spec/initContainers/1"),
    ] {
        assert!(mount_paths(c).contains(&"/etc/ssl/corporate"), "{c:#}");
        assert!(names(&c["env"]).contains(&"SSL_CERT_FILE"), "{c:#}");
        assert_eq!(
            c["envFrom"],
            json!([{"configMapRef": {"name": "proxy-settings"}}])
        );
    }
}

/// A tenant file whose credentials come from an environment variable and from secret files.
fn tenant(secrets: &Path, per_second: u32) -> Value {
    json!({"id": "initech",
        "orange": {"client_id": "initech", "client_secret": "${INITECH_ORANGE_SECRET}",
            "api_key": format!("${{file:{}/api-key}}", secrets.display()),
            "rate_limit": {"per_second": per_second}},
        "sources": {"jira": {"auth": [{"type": "hub_signature",
            "secret": format!("${{file:{}/jira-webhook}}", secrets.display())}],
            "mapping": "demo/jira-incident.yaml"}}})
}

#[test]
fn tenant_files_mount_as_a_folder_pass_check_and_changing_them_does_not_roll_the_pods() {
    let Some(python) = helm_python() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let secrets = root.path().join("secrets");
    let values = |per_second: u32| {
        json!({
            "mappings": {"imageDefaultsPath": repo().join("mappings")},
            "secretEnv": [{"name": "INITECH_ORANGE_SECRET", "secretName": "initech-orange", "key": "client-secret"}],
            "secretFiles": [{"secretName": "initech-files", "mountPath": secrets}],
            "tenantFiles": {"mountPath": root.path().join("tenants"),
                "files": {"initech.yaml": tenant(&secrets, per_second)}},
        })
    };
    let a = lint_and_render(python, &values(10));
    let b = lint_and_render(python, &values(20));

    let d = &a["deployment.yaml"];
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        named(&pod["volumes"], "tenants")["configMap"]["name"],
        "gw-itsm-bridge-tenants"
    );
    assert_eq!(
        named(&pod["volumes"], "secret-files-0")["secret"]["secretName"],
        "initech-files"
    );
    for c in [
        container(d, "/spec/template/spec/containers/0"),
        container(d, "/spec/template/spec/initContainers/0"),
    ] {
        for name in ["tenants", "secret-files-0"] {
            let m = named(&c["volumeMounts"], name);
            assert!(
                m.get("subPath").is_none(),
                "{name}: a subPath mount never sees updates"
            );
        }
    }
    let config = config_yaml(&a);
    assert_eq!(config["tenants_dir"], json!(root.path().join("tenants")));

    let checksum = |m: &BTreeMap<String, Value>| {
        m["deployment.yaml"]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            .clone()
    };
    assert_ne!(a["configmap-tenants.yaml"], b["configmap-tenants.yaml"]);
    assert_eq!(
        checksum(&a),
        checksum(&b),
        "a tenant edit is hot-reloaded, not rolled out"
    );

    // The rendered tenant file, mounted where the config says, passes `check`; the secret
    // files are read (a missing one is named).
    let env = [("INITECH_ORANGE_SECRET", "initech-orange-secret")];
    let out = check_rendered(&a, root.path(), &env);
    let msg = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success() && msg.contains("initech.yaml") && msg.contains("api-key"),
        "{}",
        text(&out)
    );
    std::fs::create_dir_all(&secrets).expect("mkdir");
    std::fs::write(secrets.join("api-key"), "initech-api-key\n").expect("write");
    std::fs::write(secrets.join("jira-webhook"), "initech-jira-webhook\n").expect("write");
    let out = check_rendered(&a, root.path(), &env);
    assert_ran(&out, "check refused the tenant file");
}

#[test]
fn helm_test_hook_runs_the_images_healthcheck_against_the_services_readyz() {
    let Some(python) = helm_python() else { return };
    let m = lint_and_render(python, &json!({}));
    let pod = &m["tests/test-readyz.yaml"];
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["annotations"]["helm.sh/hook"], "test");
    let c = &pod["spec"]["containers"][0];
    assert_eq!(
        c["args"],
        json!([
            "healthcheck",
            "--timeout-secs",
            "10",
            "--url",
            "http://gw-itsm-bridge.itsm.svc:80/readyz"
        ])
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let off = lint_and_render(python, &json!({"tests": {"enabled": false}}));
    assert!(!off.contains_key("tests/test-readyz.yaml"));
}

/// The venv's `bin/` tool, next to its python.
fn venv_tool(python: &Path, tool: &str) -> std::path::PathBuf {
    python.with_file_name(tool)
}

#[test]
fn chart_yaml_files_are_clean_under_chart_testings_yamllint_config() {
    let Some(python) = helm_python() else { return };
    let chart = repo().join(CHART);
    let mut files = vec![chart.join("Chart.yaml"), chart.join("values.yaml")];
    for e in std::fs::read_dir(chart.join("ci"))
        .expect("ci values")
        .flatten()
    {
        files.push(e.path());
    }
    let out = Command::new(venv_tool(python, "yamllint"))
        .arg("--strict")
        .arg("-c")
        .arg(repo().join("charts/ct-lintconf.yaml"))
        .args(&files)
        .output()
        .expect("yamllint runs");
    assert_ran(&out, "yamllint (ct lint's config)");
}

#[test]
fn chart_readme_is_generated_from_values_yaml_and_current() {
    let Some(python) = helm_python() else { return };
    let out = Command::new(python)
        .current_dir(repo())
        .args(["scripts/chart-readme.py", "--check", CHART])
        .output()
        .expect("python runs");
    assert_ran(&out, "chart-readme.py --check");
    let readme = std::fs::read_to_string(repo().join(CHART).join("README.md")).expect("README");
    for row in [
        "| extraVolumes | list | `[]` |",
        "| tenantFiles.mountPath | string | `\"/etc/itsm-bridge/tenants\"` |",
        "| tests.enabled | bool | `true` |",
    ] {
        assert!(readme.contains(row), "README lacks {row}");
    }
}
