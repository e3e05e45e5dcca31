//! Semantic checks of a parsed config, all reported at once (Vector's `validation.rs`).

use std::collections::HashSet;

use super::{Config, OutboundAuth, Purpose, RateLimit, TenantConfig, WebhookAuth, redact_url};

impl Config {
    /// Every problem, as `(path, message)`; empty when the config is usable by the gateway.
    pub fn validate(&self) -> Vec<(String, String)> {
        self.validate_for(Purpose::Gateway)
    }

    /// Every problem for `purpose`: the Orange client does without webhook sources.
    pub fn validate_for(&self, purpose: Purpose) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut push = |at: String, m: String| p.push((at, m));

        let url = &self.store.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            push(
                "store.url".into(),
                format!(
                    "must start with sqlite:// or postgres:// (got {:?})",
                    redact_url(url)
                ),
            );
        }
        if let Some(token) = &self.admin.token
            && let Some(m) = super::admin_token_problem(token.expose())
        {
            push("admin.token".into(), m);
        }
        let tenant_ids: HashSet<&str> = self.tenants.iter().map(|t| t.id.as_str()).collect();
        // With `tenants_dir`, tenants come and go at run time: a token may name one to come.
        let known = self.tenants_dir.is_none().then_some(&tenant_ids);
        for (at, m) in super::check_tokens(self.admin.token.as_ref(), &self.admin.tokens, known) {
            push(at, m);
        }
        if self.store.max_connections == 0 {
            push("store.max_connections".into(), "must be at least 1".into());
        }
        if self.ingress.max_body_bytes < 1024 {
            push(
                "ingress.max_body_bytes".into(),
                "must be at least 1024".into(),
            );
        }
        for (key, secs) in [
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
            ),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
            (
                "server.body_read_timeout_secs",
                self.server.body_read_timeout_secs,
            ),
        ] {
            if secs == 0 {
                push(key.into(), "must be at least 1".into());
            }
        }
        if self.server.max_connections == 0 {
            push("server.max_connections".into(), "must be at least 1".into());
        }
        if self.server.max_body_bytes_in_flight < self.ingress.max_body_bytes {
            push(
                "server.max_body_bytes_in_flight".into(),
                format!(
                    "must be at least ingress.max_body_bytes ({}), or the largest body could never be read",
                    self.ingress.max_body_bytes
                ),
            );
        }
        if self.delivery.concurrency == 0 {
            push("delivery.concurrency".into(), "must be at least 1".into());
        }
        if self.delivery.per_tenant_concurrency == Some(0) {
            push(
                "delivery.per_tenant_concurrency".into(),
                "must be at least 1".into(),
            );
        }
        if self.delivery.lease_secs < 5 {
            push("delivery.lease_secs".into(), "must be at least 5".into());
        }
        let r = &self.delivery.retry;
        if r.max_attempts == 0 {
            push(
                "delivery.retry.max_attempts".into(),
                "must be at least 1".into(),
            );
        }
        if r.base_ms == 0 || r.cap_ms < r.base_ms {
            push(
                "delivery.retry".into(),
                "needs base_ms > 0 and cap_ms >= base_ms".into(),
            );
        }
        if self.poller.interval_secs == 0 {
            push("poller.interval_secs".into(), "must be at least 1".into());
        }
        if self.poller.page_size == 0 || self.poller.page_size > 1000 {
            push(
                "poller.page_size".into(),
                "must be between 1 and 1000".into(),
            );
        }
        if self.poller.reread_budget == 0 || self.poller.reread_budget > 10_000 {
            push(
                "poller.reread_budget".into(),
                "must be between 1 and 10000 (objects re-read per cycle and API)".into(),
            );
        }
        if !(1..=50).contains(&self.orange.token_requests_per_minute) {
            push(
                "orange.token_requests_per_minute".into(),
                "must be between 1 and 50 (Orange's limit)".into(),
            );
        }
        for (name, path) in [
            ("token_path", &self.orange.token_path),
            ("incident_path", &self.orange.incident_path),
            ("trouble_ticket_path", &self.orange.trouble_ticket_path),
            ("core_information_path", &self.orange.core_information_path),
            ("ordering_path", &self.orange.ordering_path),
        ] {
            if !path.starts_with('/') {
                push(
                    format!("orange.{name}"),
                    format!("must start with '/' (got {path:?})"),
                );
            }
        }
        for (at, m) in self.orange.inferred.problems() {
            push(at, m);
        }

        let mut ids = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            if !ids.insert(t.id.as_str()) {
                push(
                    format!("{at}.id"),
                    format!("tenant {} is defined twice", t.id),
                );
            }
            for (a, m) in t.problems(&at, purpose) {
                push(a, m);
            }
        }
        p
    }
}

impl TenantConfig {
    /// Every problem of one tenant, as `(path, message)` with paths under `at`
    /// (`tenants[0]` in the config file; empty in a tenant file, where paths start at the
    /// tenant's own keys). Only the gateway (`purpose`) needs a webhook source.
    pub fn problems(&self, at: &str, purpose: Purpose) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut push = |at: String, m: String| {
            let at = at.trim_start_matches('.').to_owned();
            p.push((at, m))
        };
        let t = self;
        check_rate(
            &mut push,
            format!("{at}.orange.rate_limit"),
            t.orange.rate_limit,
        );
        if t.orange.client_id.trim().is_empty() {
            push(format!("{at}.orange.client_id"), "must not be empty".into());
        }
        if t.sources.is_empty() && purpose == Purpose::Gateway {
            push(
                format!("{at}.sources"),
                "a tenant needs at least one webhook source".into(),
            );
        }
        for (name, s) in &t.sources {
            let at = format!("{at}.sources.{name}");
            if s.kind_for(name).is_none() {
                push(
                    format!("{at}.kind"),
                    format!("source {name:?} is not servicenow, jira or generic: set kind"),
                );
            }
            if let Some(r) = &s.reconcile {
                use crate::domain::SourceKind;
                match s.kind_for(name) {
                    Some(SourceKind::Jira) if t.itsm.jira.is_none() => push(
                        format!("{at}.reconcile"),
                        "needs the tenant's itsm.jira (credentials to search with)".into(),
                    ),
                    Some(SourceKind::Servicenow) if t.itsm.servicenow.is_none() => push(
                        format!("{at}.reconcile"),
                        "needs the tenant's itsm.servicenow (credentials to read with)".into(),
                    ),
                    Some(SourceKind::Jira | SourceKind::Servicenow) => {}
                    _ => push(
                        format!("{at}.reconcile"),
                        "reconciliation reads Jira and ServiceNow sources only".into(),
                    ),
                }
                if r.interval_secs == 0 {
                    push(
                        format!("{at}.reconcile.interval_secs"),
                        "must be at least 1".into(),
                    );
                }
                if !(1..=1000).contains(&r.page_size) {
                    push(
                        format!("{at}.reconcile.page_size"),
                        "must be 1 to 1000".into(),
                    );
                }
            }
            if s.auth.is_empty() {
                push(
                    format!("{at}.auth"),
                    "at least one authentication method is required".into(),
                );
            }
            for (j, a) in s.auth.iter().enumerate() {
                let secret = match a {
                    WebhookAuth::HubSignature { secret } | WebhookAuth::Hmac { secret, .. } => {
                        secret
                    }
                    WebhookAuth::Basic { password, .. } => password,
                    WebhookAuth::Bearer { token } => token,
                };
                if secret.expose().len() < 8 {
                    push(
                        format!("{at}.auth[{j}]"),
                        "secret is shorter than 8 characters".into(),
                    );
                }
                if let WebhookAuth::Hmac { header, .. } = a
                    && http::HeaderName::from_bytes(header.as_bytes()).is_err()
                {
                    push(
                        format!("{at}.auth[{j}].header"),
                        format!("{header:?} is not a valid header name"),
                    );
                }
            }
            if s.mapping.is_absolute()
                || s.mapping
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                push(
                    format!("{at}.mapping"),
                    "must be a path inside mappings_dir".into(),
                );
            }
        }
        if let Some(sn) = &t.itsm.servicenow {
            let section = format!("{at}.itsm.servicenow");
            check_itsm(&mut push, &section, sn.rate_limit, &sn.auth);
        }
        if let Some(j) = &t.itsm.jira {
            check_itsm(&mut push, &format!("{at}.itsm.jira"), j.rate_limit, &j.auth);
            if !matches!(j.api_version, 2 | 3) {
                push(
                    format!("{at}.itsm.jira.api_version"),
                    "must be 2 or 3".into(),
                );
            }
        }
        p
    }
}

/// An ITSM client's section at `at`: its `rate_limit` and its `auth`.
fn check_itsm(
    push: &mut impl FnMut(String, String),
    at: &str,
    rate: RateLimit,
    auth: &OutboundAuth,
) {
    check_rate(push, format!("{at}.rate_limit"), rate);
    check_outbound(push, format!("{at}.auth"), auth);
}

fn check_rate(push: &mut impl FnMut(String, String), at: String, r: RateLimit) {
    if r.per_second == 0 {
        push(format!("{at}.per_second"), "must be at least 1".into());
    }
    if r.burst == 0 {
        push(format!("{at}.burst"), "must be at least 1".into());
    }
}

fn check_outbound(push: &mut impl FnMut(String, String), at: String, a: &OutboundAuth) {
    let (what, s) = match a {
        OutboundAuth::Basic { password, .. } => ("password", password),
        OutboundAuth::Bearer { token } => ("token", token),
    };
    if s.expose().is_empty() {
        push(at, format!("{what} must not be empty"));
    }
}
