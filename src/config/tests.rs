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
    let syncs = crate::worker::SourceSync::from_tenants(&c.tenants);
    assert_eq!(syncs.len(), 1);
    assert_eq!(syncs[0].kind, crate::domain::SourceKind::Servicenow);
    assert_eq!(syncs[0].integration.as_deref(), Some("svc"));
}

const TENANT: &str = "tenants:\n- id: a\n  orange: {client_id: c, client_secret: x, api_key: k}\n  sources:\n    jira:\n      auth: [{type: hub_signature, secret: s3cr3t-value}]\n      mapping: a.yaml\n";

#[test]
fn an_empty_or_short_admin_token_is_refused_and_a_long_one_accepted() {
    let with = |admin: &str| {
        Config::from_yaml(&format!("{admin}{TENANT}"), "t.yaml", Path::new(""), |k| {
            (k == "SHORT").then(|| "short".to_owned())
        })
    };
    for admin in [
        "admin: {token: \"${ADMIN_TOKEN:-}\"}\n",
        "admin: {token: ''}\n",
        "admin: {token: \"${SHORT}\"}\n",
        "admin: {token: '0123456789abcde'}\n",
        "admin: {token: '0123456789 abcdef'}\n",
    ] {
        let err = with(admin).expect_err(admin);
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(
            (err.0[0].file.as_str(), err.0[0].at.as_str()),
            ("t.yaml", "admin.token")
        );
        assert!(!err.to_string().contains("short\""), "{err}");
    }
    let ok = with("admin: {token: '0123456789abcdef'}\n").unwrap();
    assert!(ok.admin.usable_token().is_some());
    assert!(with("").unwrap().admin.usable_token().is_none());
}

/// Secrets the error-path tests fill in; none may appear in any message.
const SECRETS: [(&str, &str); 5] = [
    ("ORANGE_SECRET", "QuotedEnvS3cret"),
    ("NUMERIC_SECRET", "98765432109876"),
    ("SN_PASSWORD", "pwpwpwpwpw"),
    ("DB_URL", "postgres://user:Pg#S3cret@db:5432/itsm"),
    ("ADMIN_TOKEN", "adm"),
];

fn load_secret(text: &str) -> ConfigErrors {
    Config::from_yaml(text, "t.yaml", Path::new(""), |k| {
        SECRETS
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect_err("the config is broken")
}

fn assert_no_secret(err: &ConfigErrors) {
    let text = format!("{err}\n{err:?}");
    for needle in [
        "QuotedEnvS3cret",
        "98765432109876",
        "pwpwpwpwpw",
        "Pg#S3cret",
        "S3cret",
    ] {
        assert!(!text.contains(needle), "{needle} in:\n{text}");
    }
}

#[test]
fn a_type_error_on_an_interpolated_value_names_the_key_not_the_value() {
    for (text, key) in [
        (
            "tenants:\n- id: a\n  orange:\n    client_id: c\n    client_secret: k\n    api_key: k\n    rate_limit: {per_second: ${NUMERIC_SECRET}}\n",
            "per_second",
        ),
        (
            "store:\n  max_connections: ${NUMERIC_SECRET}\n",
            "max_connections",
        ),
        ("admin:\n  token: [${NUMERIC_SECRET}]\n", "token"),
        ("log:\n  format: ${SN_PASSWORD}\n", "format"),
    ] {
        let err = load_secret(text);
        assert_no_secret(&err);
        let text = err.to_string();
        eprintln!("{text}");
        assert!(text.starts_with("t.yaml:"), "{text}");
        assert!(text.contains(key), "{key} not named in {text}");
    }
}

#[test]
fn a_yaml_syntax_error_near_a_secret_shows_no_neighbouring_value() {
    for text in [
        "tenants:\n- id: a\n  orange:\n    client_secret: \"${ORANGE_SECRET}\"\n   api_key: [\n    password: '${SN_PASSWORD}'\n",
        "store: {url: \"${DB_URL}\"\nadmin: {token: \"${ORANGE_SECRET}\", token: x}\n",
        "admin:\n  token: \"${ORANGE_SECRET}\"\n  tokn: \"${SN_PASSWORD}\"\n",
    ] {
        let err = load_secret(text);
        eprintln!("{err}");
        assert_no_secret(&err);
        assert!(err.to_string().starts_with("t.yaml:"), "{err}");
    }
    let err = load_secret("admin:\n  token: \"${ORANGE_SECRET}\"\n  tokn: \"${SN_PASSWORD}\"\n");
    assert!(err.to_string().contains("tokn"), "{err}");
}

#[test]
fn validation_problems_show_placeholders_and_redacted_urls() {
    let err = load_secret(&format!(
        "store: {{url: \"${{DB_URL}}x\"}}\nadmin: {{token: \"${{ADMIN_TOKEN}}\"}}\n{TENANT}  itsm:\n    servicenow: {{base_url: 'https://x.example', auth: {{type: basic, username: u, password: ''}}}}\norange: {{token_path: \"${{SN_PASSWORD}}\"}}\n"
    ));
    assert_no_secret(&err);
    let text = err.to_string();
    for needle in ["admin.token", "orange.token_path", "${SN_PASSWORD}"] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    let err = load_secret("store: {url: \"mysql://root:${SN_PASSWORD}@db\"}\n");
    assert_no_secret(&err);
    assert!(err.to_string().contains("store.url"), "{err}");
    let debug = format!(
        "{:?}",
        Config::from_yaml(
            "store: {url: 'postgres://user:Pg#S3cret@db/x'}\n",
            "t.yaml",
            Path::new(""),
            |_| None
        )
        .unwrap()
    );
    assert!(!debug.contains("S3cret"), "{debug}");
}

#[test]
fn named_tokens_need_a_name_a_long_own_token_and_known_tenants() {
    let with = |admin: &str| {
        Config::from_yaml(&format!("{admin}{TENANT}"), "t.yaml", Path::new(""), |_| {
            None
        })
    };
    let ok = with(
        "admin:\n  tokens:\n  - {name: acme-team, token: acme-viewer-token-1, tenants: [a]}\n  \
         - {name: ops, token: operator-token-0001, tenants: '*', role: operator}\n",
    )
    .unwrap();
    assert!(ok.admin.enabled() && ok.admin.usable_token().is_none());
    assert_eq!(ok.admin.tokens[0].role, crate::config::Role::Viewer);
    assert_eq!(ok.admin.tokens[1].tenants, crate::config::TenantScope::All);

    let err = with(
        "admin:\n  token: 0123456789abcdef\n  tokens:\n  \
         - {name: admin, token: 0123456789abcdef, tenants: [a, nope]}\n  \
         - {name: x, token: short, tenants: []}\n  \
         - {name: x, token: another-token-0001, tenants: '*'}\n",
    )
    .unwrap_err();
    let at: Vec<&str> = err.0.iter().map(|p| p.at.as_str()).collect();
    assert_eq!(
        at,
        [
            "admin.tokens[0].name",
            "admin.tokens[0].token",
            "admin.tokens[0].tenants[1]",
            "admin.tokens[1].token",
            "admin.tokens[1].tenants",
            "admin.tokens[2].name",
        ],
        "{err}"
    );
    assert!(!err.to_string().contains("0123456789abcdef"), "{err}");
    let bad_scope =
        with("admin:\n  tokens:\n  - {name: y, token: another-token-0001, tenants: all}\n")
            .unwrap_err();
    assert!(bad_scope.to_string().contains("\"*\""), "{bad_scope}");
}
