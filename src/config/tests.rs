use std::path::Path;

use super::*;

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_yaml(text, "t.yaml", Path::new(""), |k| {
        (k == "SECRET").then(|| "s3cr3t-value".to_owned())
    })
}

#[test]
fn embedded_default_is_valid() {
    let c = Config::embedded_default();
    let demo = c.tenant("demo").expect("demo tenant");
    assert_eq!(demo.sources.len(), 4);
    assert!(format!("{c:?}").contains("[REDACTED]"));
    assert!(!format!("{c:?}").contains("sandbox-secret"));
}

#[test]
fn unknown_keys_are_rejected_with_a_place() {
    let err = load("store:\n  urll: sqlite://x\n").unwrap_err();
    assert_eq!(err.0.len(), 1);
    let p = &err.0[0];
    assert!(p.message.contains("urll"), "{p}");
    assert!(p.at.starts_with("2:"), "{p}");
}

#[test]
fn env_secrets_are_interpolated() {
    let c = load(
        "tenants:\n- id: a\n  orange: {client_id: c, client_secret: \"${SECRET}\", api_key: k}\n  sources:\n    jira:\n      auth: [{type: hub_signature, secret: \"${SECRET}\"}]\n      mapping: a.yaml\n",
    )
    .unwrap();
    assert_eq!(c.tenants[0].orange.client_secret.expose(), "s3cr3t-value");
}

#[test]
fn validation_reports_every_problem() {
    let err = load(
        "store: {url: mysql://x}\ntenants:\n- id: a\n  orange: {client_id: '', client_secret: x, api_key: k, rate_limit: {per_second: 0}}\n  sources:\n    weird:\n      auth: [{type: bearer, token: short}]\n      mapping: ../x.yaml\n- id: a\n  orange: {client_id: c, client_secret: x, api_key: k}\n",
    )
    .unwrap_err();
    let text = err.to_string();
    for needle in [
        "store.url",
        "tenants[0].orange.client_id",
        "tenants[0].orange.rate_limit.per_second",
        "tenants[0].sources.weird.kind",
        "tenants[0].sources.weird.auth[0]",
        "tenants[0].sources.weird.mapping",
        "tenants[1].id",
        "tenants[1].sources",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
}

#[test]
fn missing_env_is_reported_with_line() {
    let err = load("admin:\n  token: ${NOPE}\n").unwrap_err();
    assert_eq!(err.0[0].at, "2:10");
    assert!(err.0[0].message.contains("NOPE"));
}

#[test]
fn jira_reconciliation_is_off_by_default_and_needs_jira_credentials() {
    let base = "tenants:\n- id: a\n  orange: {client_id: c, client_secret: x, api_key: k}\n  sources:\n    jira:\n      auth: [{type: hub_signature, secret: s3cr3t-value}]\n      mapping: a.yaml\n";
    let c = load(base).unwrap();
    assert_eq!(
        c.tenants[0].sources.values().next().unwrap().reconcile,
        None
    );
    let on = format!("{base}      reconcile: {{interval_secs: 0}}\n");
    let text = load(&on).unwrap_err().to_string();
    for needle in [
        "tenants[0].sources.jira.reconcile: needs the tenant's itsm.jira",
        "tenants[0].sources.jira.reconcile.interval_secs",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    let ok = format!(
        "{base}      reconcile: {{}}\n  itsm:\n    jira: {{base_url: 'https://j.example', auth: {{type: bearer, token: t}}}}\n"
    );
    let r = load(&ok).unwrap().tenants[0]
        .sources
        .values()
        .next()
        .unwrap()
        .reconcile
        .unwrap();
    assert_eq!(
        (
            r.interval_secs,
            r.page_size,
            r.lookback_secs,
            r.overlap_secs
        ),
        (300, 50, 3600, 120)
    );
}

#[test]
fn servicenow_reconciliation_needs_servicenow_credentials_and_generic_sources_are_refused() {
    let base = "tenants:\n- id: a\n  orange: {client_id: c, client_secret: x, api_key: k}\n  sources:\n    servicenow:\n      auth: [{type: bearer, token: s3cr3t-value}]\n      mapping: a.yaml\n      reconcile: {}\n    custom:\n      kind: generic\n      auth: [{type: bearer, token: s3cr3t-value}]\n      mapping: b.yaml\n      reconcile: {}\n";
    let text = load(base).unwrap_err().to_string();
    for needle in [
        "tenants[0].sources.servicenow.reconcile: needs the tenant's itsm.servicenow",
        "tenants[0].sources.custom.reconcile: reconciliation reads Jira and ServiceNow sources only",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    let ok = base.replace("    custom:\n      kind: generic\n      auth: [{type: bearer, token: s3cr3t-value}]\n      mapping: b.yaml\n      reconcile: {}\n", "")
        + "  itsm:\n    servicenow: {base_url: 'https://acme.service-now.com', auth: {type: bearer, token: t}, integration_user: svc}\n";
    let c = load(&ok).unwrap();
    assert!(
        c.tenants[0]
            .sources
            .values()
            .next()
            .unwrap()
            .reconcile
            .is_some()
    );
    let syncs = crate::worker::SourceSync::from_config(&c);
    assert_eq!(syncs.len(), 1);
    assert_eq!(syncs[0].kind, crate::domain::SourceKind::Servicenow);
    assert_eq!(syncs[0].integration.as_deref(), Some("svc"));
}
