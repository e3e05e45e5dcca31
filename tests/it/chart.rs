//! The Helm chart (`charts/itsm-bridge`), checked offline by a real Helm engine: lint, render,
//! Kubernetes schema validation (strict), the storage-mode guard, the values schema, and the
//! rendered config accepted by `itsm-bridge check`.
//!
//! There is no helm binary and no cluster here: `scripts/helm-venv.sh` installs PyPI's
//! `helm-python-sdk` (Helm's Go SDK behind a C ABI) and `kubernetes-validate` into
//! `target/helm-venv`, and `scripts/helm_offline.py` drives them. When the venv cannot be
//! installed (no network, no wheel cache) every test here prints a SKIPPED line and returns.
//! Nothing here claims a deployment ran.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{Value, json};

pub(crate) const CHART: &str = "charts/itsm-bridge";
/// Lint with the middle one; validate against the oldest the chart supports (Chart.yaml
/// `kubeVersion`), a current one and the newest kubernetes-validate knows.
const KUBE_VERSIONS: [&str; 3] = ["1.25.0", "1.30.0", "1.37.0"];

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, or `None` (after saying so) when it cannot be installed here.
pub(crate) fn helm_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    let python = PYTHON.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("scripts/helm-venv.sh"))
            .output()
            .expect("bash runs");
        // Same default as the script; HELM_VENV moves both.
        let venv = std::env::var_os("HELM_VENV")
            .map_or_else(|| repo().join("target/helm-venv"), PathBuf::from);
        out.status
            .success()
            .then(|| venv.join("bin/python"))
            .or_else(|| {
                skipped(&format!(
                    "scripts/helm-venv.sh failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            })
    });
    match python {
        Some(p) => Some(p.as_path()),
        None => {
            skipped("no Helm engine (pip could not install helm-python-sdk)");
            None
        }
    }
}

/// Written straight to stderr: libtest's capture only takes `print!`/`eprint!`, so this line
/// shows in a normal `cargo test` run.
fn skipped(why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED chart test: {why}");
}

/// `helm_offline.py ARGS…` from the repository root.
pub(crate) fn helm_offline(python: &Path, args: &[&str]) -> Output {
    Command::new(python)
        .current_dir(repo())
        .arg("scripts/helm_offline.py")
        .args(args)
        .output()
        .expect("python runs")
}

/// The text of the config the rendered manifests `m` carry in their ConfigMap.
pub(crate) fn config_text(m: &BTreeMap<String, Value>) -> &str {
    let config = m["configmap.yaml"]["data"]["config.yaml"].as_str();
    config.expect("a config.yaml in the ConfigMap")
}

/// [`config_text`], parsed.
pub(crate) fn config_yaml(m: &BTreeMap<String, Value>) -> Value {
    serde_saphyr::from_str(config_text(m)).expect("config is YAML")
}

/// The item named `name` of the array `list` (env, volumes, mounts); panics naming it when
/// there is none.
pub(crate) fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    let items = list.as_array().unwrap_or_else(|| panic!("a list: {list}"));
    let item = items.iter().find(|item| item["name"] == name);
    item.unwrap_or_else(|| panic!("no {name} in {list}"))
}

/// Asserts that `out` succeeded; otherwise panics with `what` and its output.
pub(crate) fn assert_ran(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", text(out));
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Lints (strict) and renders with `values` on top of the chart's defaults, validating every
/// manifest; returns the rendered manifests by template file name (`deployment.yaml`).
pub(crate) fn lint_and_render(python: &Path, values: &Value) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let values_file = dir.path().join("values.json");
    std::fs::write(&values_file, values.to_string()).expect("write values");
    let values_file = values_file.to_str().expect("utf-8 path");

    let lint = helm_offline(
        python,
        &["lint", CHART, "-f", values_file, "-k", KUBE_VERSIONS[1]],
    );
    assert_ran(&lint, "helm lint --strict failed");

    let out_dir = dir.path().join("out");
    let mut args = vec![
        "template",
        CHART,
        "-f",
        values_file,
        "--release",
        "gw",
        "--namespace",
        "itsm",
        "--validate",
        "--output-dir",
        out_dir.to_str().expect("utf-8"),
    ];
    for k in KUBE_VERSIONS {
        args.extend(["-k", k]);
    }
    let template = helm_offline(python, &args);
    assert_ran(&template, "render or kubernetes-validate failed");

    // By path under templates/: `deployment.yaml`, `tests/test-readyz.yaml`.
    let templates = out_dir.join("itsm-bridge/templates");
    let mut manifests = BTreeMap::new();
    let mut dirs = vec![templates.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("rendered") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let yaml = std::fs::read_to_string(&path).expect("read manifest");
            let doc: Value = serde_saphyr::from_str(&yaml)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}\n{yaml}", path.display()));
            let name = path
                .strip_prefix(&templates)
                .expect("under templates")
                .to_string_lossy()
                .into_owned();
            manifests.insert(name, doc);
        }
    }
    manifests
}

/// Renders and expects a refusal; returns Helm's message.
pub(crate) fn render_refused(python: &Path, sets: &[&str]) -> String {
    let mut args = vec!["template", CHART];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = helm_offline(python, &args);
    assert!(
        !out.status.success(),
        "expected a refusal for {sets:?}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The values of `ci/scale-out-values.yaml` as JSON.
pub(crate) fn scale_out_values() -> Value {
    let yaml = std::fs::read_to_string(repo().join(CHART).join("ci/scale-out-values.yaml"))
        .expect("ci values");
    serde_saphyr::from_str(&yaml).expect("ci values are YAML")
}

pub(crate) fn container<'a>(deployment: &'a Value, pointer: &str) -> &'a Value {
    deployment
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in {deployment:#}"))
}

fn assert_restricted(c: &Value) {
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "{c:#}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{c:#}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{c:#}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{c:#}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{c:#}");
}

#[test]
fn chart_with_default_values_lints_renders_and_passes_strict_kubernetes_validation() {
    let Some(python) = helm_python() else { return };
    let m = lint_and_render(python, &json!({}));

    let d = &m["deployment.yaml"];
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["strategy"]["type"], "Recreate",
        "SQLite needs Recreate"
    );
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["checksum/config"].is_string(),
        "config checksum annotation"
    );

    let gw = container(d, "/spec/template/spec/containers/0");
    assert_eq!(
        gw["args"],
        json!(["serve", "--config", "/etc/itsm-bridge/config.yaml"])
    );
    assert_eq!(gw["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(gw["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(gw["ports"][0]["containerPort"], 8080);
    assert_restricted(gw);
    let mounts: Vec<&str> = gw["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|v| v["mountPath"].as_str())
        .collect();
    assert!(
        mounts.contains(&"/tmp") && mounts.contains(&"/var/lib/itsm-bridge"),
        "{mounts:?}"
    );

    let check = container(d, "/spec/template/spec/initContainers/0");
    assert_eq!(
        check["args"],
        json!(["check", "--config", "/etc/itsm-bridge/config.yaml"])
    );
    assert_restricted(check);

    let pvc = &m["pvc.yaml"];
    assert_eq!(pvc["kind"], "PersistentVolumeClaim");
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    for absent in [
        "hpa.yaml",
        "ingress.yaml",
        "servicemonitor.yaml",
        "prometheusrule.yaml",
        "networkpolicy.yaml",
    ] {
        assert!(!m.contains_key(absent), "{absent} rendered by default");
    }
    assert_eq!(m["service.yaml"]["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(m["pdb.yaml"]["spec"]["maxUnavailable"], 1);
}

#[test]
fn postgres_with_three_replicas_hpa_ingress_servicemonitor_and_networkpolicy_renders_valid() {
    let Some(python) = helm_python() else { return };
    let m = lint_and_render(python, &scale_out_values());

    let d = &m["deployment.yaml"];
    assert!(d["spec"].get("replicas").is_none(), "the HPA owns replicas");
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    assert!(
        !m.contains_key("pvc.yaml"),
        "no SQLite volume with PostgreSQL"
    );
    let env = &container(d, "/spec/template/spec/containers/0")["env"];
    let db = named(env, "ITSM_BRIDGE_DATABASE_URL");
    assert_eq!(
        db["valueFrom"]["secretKeyRef"],
        json!({"name": "itsm-bridge-db", "key": "url"})
    );
    assert_eq!(
        container(d, "/spec/template/spec/initContainers/0")["env"],
        *env,
        "check sees the same environment as serve"
    );

    let hpa = &m["hpa.yaml"];
    assert_eq!(
        (
            hpa["spec"]["minReplicas"].clone(),
            hpa["spec"]["maxReplicas"].clone()
        ),
        (json!(3), json!(10))
    );
    let ing = &m["ingress.yaml"]["spec"];
    assert_eq!(ing["tls"][0]["secretName"], "itsm-bridge-tls");
    assert_eq!(ing["rules"][0]["http"]["paths"][0]["path"], "/webhooks");
    assert_eq!(
        m["servicemonitor.yaml"]["spec"]["endpoints"][0]["path"],
        "/metrics"
    );
    assert_eq!(
        m["networkpolicy.yaml"]["spec"]["policyTypes"],
        json!(["Ingress", "Egress"])
    );
    assert_eq!(m["pdb.yaml"]["spec"]["minAvailable"], 2);
    let dashboard = m["dashboard-configmap.yaml"]["data"]["itsm-bridge.json"]
        .as_str()
        .expect("dashboard json");
    let dashboard: Value = serde_json::from_str(dashboard).expect("dashboard is JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() > 10));

    // Credentials are names of variables in the ConfigMap, never values.
    let config = config_text(&m);
    for placeholder in [
        "\"${ACME_ORANGE_CLIENT_SECRET}\"",
        "\"url\": \"${ITSM_BRIDGE_DATABASE_URL}\"",
    ] {
        assert!(config.contains(placeholder), "{placeholder}: {config}");
    }
}

#[test]
fn three_replicas_on_sqlite_are_refused_with_a_message_that_says_what_to_do() {
    let Some(python) = helm_python() else { return };
    let cases: [(&str, &[&str]); 2] = [
        (
            "replicaCount=3",
            &[
                "replicaCount is 3 but the store is SQLite",
                "store.postgres.enabled=true",
            ],
        ),
        (
            "autoscaling.enabled=true",
            &["autoscaling.enabled is true but the store is SQLite"],
        ),
    ];
    for (set, says) in cases {
        let msg = render_refused(python, &[set]);
        for needle in says {
            assert!(msg.contains(needle), "{set}: {msg}");
        }
    }
}

#[test]
fn bad_values_are_refused_by_the_values_schema() {
    let Some(python) = helm_python() else { return };
    let cases: [(&[&str], &str); 6] = [
        (&["replicaCount=two"], "/replicaCount"),
        (&["service.type=Public"], "/service/type"),
        (&["replicas=3"], "replicas"),
        (&["store.postgres.enabled=true"], "existingSecret"),
        (
            // A credential written in clear instead of a ${VAR} placeholder.
            &[
                "tenants[0].id=acme,tenants[0].orange.client_id=c",
                "tenants[0].orange.client_secret=hunter2hunter2",
                "tenants[0].orange.api_key=${K}",
                "tenants[0].sources.jira.auth[0].type=hub_signature",
                "tenants[0].sources.jira.auth[0].secret=${S}",
                "tenants[0].sources.jira.mapping=acme/jira.yaml",
            ],
            "/tenants/0/orange/client_secret",
        ),
        (
            // Reconciliation pages are 1 to 1000 tickets.
            &[
                "tenants[0].id=acme,tenants[0].orange.client_id=c",
                "tenants[0].orange.client_secret=${C},tenants[0].orange.api_key=${K}",
                "tenants[0].sources.jira.auth[0].type=hub_signature",
                "tenants[0].sources.jira.auth[0].secret=${S}",
                "tenants[0].sources.jira.mapping=acme/jira.yaml",
                "tenants[0].sources.jira.reconcile.page_size=0",
            ],
            "/tenants/0/sources/jira/reconcile/page_size",
        ),
    ];
    for (sets, expected) in cases {
        let msg = render_refused(python, sets);
        assert!(
            msg.contains("schema"),
            "{sets:?} was not refused by the schema: {msg}"
        );
        assert!(
            msg.contains(expected),
            "{sets:?}: message does not name {expected}: {msg}"
        );
    }
}

#[test]
fn a_config_placeholder_without_an_environment_variable_is_refused_at_render_time() {
    let Some(python) = helm_python() else { return };
    let mut values = scale_out_values();
    values["secretEnv"]
        .as_array_mut()
        .expect("secretEnv")
        .retain(|e| e["name"] != "ACME_SN_HMAC");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("values.json");
    std::fs::write(&file, values.to_string()).expect("write");
    let out = helm_offline(
        python,
        &["template", CHART, "-f", file.to_str().expect("utf-8")],
    );
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && msg.contains("${ACME_SN_HMAC}"),
        "{}",
        text(&out)
    );
}

/// Every file under the repository's `mappings/` as `relative path → content`.
fn repo_mapping_files() -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let (Ok(rel), Ok(content)) =
                (p.strip_prefix(root), std::fs::read_to_string(&p))
            {
                out.insert(rel.to_string_lossy().replace('\\', "/"), content);
            }
        }
    }
    let root = repo().join("mappings");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// Writes the config and mappings ConfigMaps as the kubelet would mount them (the mappings'
/// `items` put each key at its relative path) and runs `itsm-bridge check` on them.
pub(crate) fn check_rendered(
    m: &BTreeMap<String, Value>,
    root: &Path,
    env: &[(&str, &str)],
) -> Output {
    let config = config_text(m);
    let config_file = root.join("config.yaml");
    std::fs::write(&config_file, config).expect("write config");
    let volumes = m["deployment.yaml"]["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes");
    if let Some(items) = volumes
        .iter()
        .find(|v| v["name"] == "mappings")
        .and_then(|v| v["configMap"]["items"].as_array())
    {
        let data = &m["configmap-mappings.yaml"]["data"];
        let mount = root.join("mappings");
        for item in items {
            let (key, path) = (
                item["key"].as_str().expect("key"),
                item["path"].as_str().expect("path"),
            );
            let dest = mount.join(path);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            std::fs::write(dest, data[key].as_str().expect("mapping content"))
                .expect("write mapping");
        }
    }
    // Tenant files: the chart's ConfigMap is mounted whole at the config's `tenants_dir`.
    if let (Some(data), Ok(cfg)) = (
        m.get("configmap-tenants.yaml")
            .and_then(|t| t["data"].as_object()),
        serde_saphyr::from_str::<Value>(config),
    ) {
        let dir = PathBuf::from(cfg["tenants_dir"].as_str().expect("tenants_dir set"));
        std::fs::create_dir_all(&dir).expect("mkdir tenants");
        for (name, content) in data {
            std::fs::write(dir.join(name), content.as_str().expect("tenant file"))
                .expect("write tenant file");
        }
    }
    Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
        .args(["check", "--config"])
        .arg(&config_file)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("itsm-bridge runs")
}

#[test]
fn rendered_config_and_mappings_configmaps_are_accepted_by_itsm_bridge_check() {
    let Some(python) = helm_python() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let mut values = scale_out_values();
    // The demo mapping files (config/default.yaml's names), shipped through the chart's
    // mappings ConfigMap and mounted where the test can read them.
    values["tenants"][0]["sources"]["servicenow"]["mapping"] =
        json!("demo/servicenow-incident.yaml");
    values["tenants"][0]["sources"]["jira"]["mapping"] = json!("demo/jira-incident.yaml");
    values["mappings"] = json!({
        "files": repo_mapping_files(),
        "mountPath": root.path().join("mappings"),
    });
    let m = lint_and_render(python, &values);
    // The ServiceNow source's `reconcile` (ci values) passes the schema into the config.
    let config = config_yaml(&m);
    assert_eq!(
        config["tenants"][0]["sources"]["servicenow"]["reconcile"]["interval_secs"],
        300
    );

    // Values a YAML plain scalar could not hold: the JSON-rendered config quotes them.
    let env = [
        (
            "ITSM_BRIDGE_DATABASE_URL",
            "postgres://gw:p%40ss@db:5432/itsm?sslmode=require",
        ),
        ("ITSM_BRIDGE_ADMIN_TOKEN", "admin-token-0123456789"),
        ("ACME_ORANGE_CLIENT_SECRET", "s3cr\"et: #not-a-comment"),
        ("ACME_ORANGE_API_KEY", "api-key-0123456789"),
        ("ACME_SN_HMAC", "hmac-secret-0123456789"),
        ("ACME_SN_PASSWORD", "p@ss word's"),
        ("ACME_JIRA_WEBHOOK_SECRET", "jira-webhook-secret"),
        ("ACME_JIRA_API_TOKEN", "jira-api-token-0123"),
    ];
    let out = check_rendered(&m, root.path(), &env);
    assert_ran(&out, "check refused the rendered config");

    // And `check` really reads it: without one of the Secrets' variables it refuses.
    let out = check_rendered(&m, root.path(), &env[1..]);
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && msg.contains("ITSM_BRIDGE_DATABASE_URL"),
        "{}",
        text(&out)
    );
}

#[test]
fn default_render_points_check_at_the_mappings_shipped_in_the_image() {
    let Some(python) = helm_python() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    // The image ships the repository's mappings/ at imageDefaultsPath (see Dockerfile).
    let values = json!({ "mappings": { "imageDefaultsPath": repo().join("mappings") } });
    let m = lint_and_render(python, &values);
    let config = config_yaml(&m);
    assert_eq!(config["mappings_dir"], json!(repo().join("mappings")));
    assert_eq!(
        config["store"]["url"],
        "sqlite:///var/lib/itsm-bridge/itsm-bridge.db"
    );
    let out = check_rendered(&m, root.path(), &[]);
    assert_ran(&out, "check refused the default config");
}

#[test]
fn mapping_files_mount_at_their_nested_paths_and_changing_them_does_not_roll_the_pods() {
    let Some(python) = helm_python() else { return };
    let with = |files: Value, level: &str| json!({ "mappings": { "files": files }, "config": { "log": { "level": level } } });
    let a = lint_and_render(
        python,
        &with(
            json!({"acme/servicenow.yaml": "a: 1\n", "flat.yaml": "b: 2\n"}),
            "info",
        ),
    );
    let b = lint_and_render(
        python,
        &with(
            json!({"acme/servicenow.yaml": "a: 2\n", "flat.yaml": "b: 2\n"}),
            "info",
        ),
    );
    let c = lint_and_render(
        python,
        &with(
            json!({"acme/servicenow.yaml": "a: 1\n", "flat.yaml": "b: 2\n"}),
            "debug",
        ),
    );

    let spec = &a["deployment.yaml"]["spec"]["template"]["spec"];
    let volume = named(&spec["volumes"], "mappings");
    assert_eq!(
        volume["configMap"]["items"],
        json!([{"key": "acme__servicenow.yaml", "path": "acme/servicenow.yaml"}, {"key": "flat.yaml", "path": "flat.yaml"}])
    );
    assert_eq!(
        a["configmap-mappings.yaml"]["data"]["acme__servicenow.yaml"],
        "a: 1\n"
    );
    let mount = named(&spec["containers"][0]["volumeMounts"], "mappings");
    assert!(
        mount.get("subPath").is_none(),
        "a subPath mount would never see ConfigMap updates"
    );
    let config = config_yaml(&a);
    assert_eq!(config["mappings_dir"], mount["mountPath"]);

    let checksum = |m: &BTreeMap<String, Value>| {
        m["deployment.yaml"]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            .clone()
    };
    assert_eq!(
        checksum(&a),
        checksum(&b),
        "a mapping edit is hot-reloaded, not rolled out"
    );
    assert_ne!(checksum(&a), checksum(&c), "a config edit rolls the pods");
}

#[test]
fn a_misspelt_kubernetes_field_in_a_pass_through_value_fails_strict_validation() {
    let Some(python) = helm_python() else { return };
    // podSecurityContext is passed through as is; only the Kubernetes schema can catch this.
    let out = helm_offline(
        python,
        &[
            "template",
            CHART,
            "--validate",
            "--set",
            "podSecurityContext.runAsNonRot=true",
        ],
    );
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && msg.contains("runAsNonRot") && msg.contains("INVALID"),
        "{}",
        text(&out)
    );
}
