//! `doctor`: read-only checks of each tenant's Orange and ITSM endpoints with its own
//! credentials — the token, the API key and each Orange API's `status`, the inferred list
//! behaviours (docs/orange-assumptions.md) as the live API shows them, and the ITSM user's
//! rights ([`itsm`]). Only GET calls (and the token request): it never creates, updates or
//! deletes.
//!
//! One row per check: what is assumed, what was observed, the setting to use. Exit 0 when
//! every check the config relies on holds, 1 otherwise.

mod itsm;

use std::process::ExitCode;

use serde::Serialize;

use crate::config::{Config, TenantConfig};
use crate::domain::{OrangeApi, TenantId};
use crate::mapping::MappingSet;
use crate::orange::OrangeClient;
use crate::orange::probe::Verdict;

/// The field both poll-back probes use.
const LAST_UPDATE: &str = "lastUpdateDate";

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub tenant: String,
    /// `credential`, `behaviour` or `itsm`.
    pub kind: &'static str,
    pub check: String,
    pub assumed: String,
    pub observed: String,
    /// What to set if the observation differs from the assumption.
    pub setting: String,
    /// The observation matches what the config needs.
    pub ok: bool,
    /// The config relies on it (a failed relied-on check makes the exit code 1).
    pub relied: bool,
}

/// Adds `r` to `rows`; whether it passed (a failed credential check ends a tenant's checks).
fn push_ok(rows: &mut Vec<Row>, r: Row) -> bool {
    let ok = r.ok;
    rows.push(r);
    ok
}

fn row(t: &TenantId, kind: &'static str, check: impl Into<String>) -> Row {
    Row {
        tenant: t.as_str().to_owned(),
        kind,
        check: check.into(),
        assumed: "ok".into(),
        observed: String::new(),
        setting: String::new(),
        ok: false,
        relied: true,
    }
}

/// Runs every check of `tenant` (or of every tenant) and prints them.
pub async fn doctor(config: &Config, tenant: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let tenants: Vec<&TenantConfig> = config
        .tenants
        .iter()
        .filter(|t| tenant.is_none_or(|n| t.id.as_str() == n))
        .collect();
    anyhow::ensure!(
        !tenants.is_empty(),
        "no tenant {:?} in the config",
        tenant.unwrap_or_default()
    );
    let rows = run(config, &tenants).await?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        super::out::text(&render(&rows));
    }
    let failed = rows.iter().any(|r| r.relied && !r.ok);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every row for `tenants`.
pub async fn run(config: &Config, tenants: &[&TenantConfig]) -> anyhow::Result<Vec<Row>> {
    let mappings = MappingSet::load(config).ok();
    let mut rows = Vec::new();
    for t in tenants {
        let client = crate::orange::client_for_tenant(
            &config.orange,
            config.delivery.max_attachment_bytes,
            t,
        )?
        .ok_or_else(|| anyhow::anyhow!("tenant {} has no Orange client", t.id))?;
        orange_rows(config, &t.id, &client, &mut rows).await;
        itsm::rows(t, mappings.as_ref(), &mut rows).await;
    }
    Ok(rows)
}

async fn orange_rows(config: &Config, t: &TenantId, c: &OrangeClient, rows: &mut Vec<Row>) {
    let mut r = row(t, "credential", "orange token");
    match c.check_token().await {
        Ok(()) => (r.observed, r.ok) = ("issued".into(), true),
        Err(e) => r.observed = e.message,
    }
    r.setting = "tenants[].orange.client_id / client_secret".into();
    if !push_ok(rows, r) {
        return;
    }
    for api in [
        OrangeApi::Incident,
        OrangeApi::TroubleTicket,
        OrangeApi::CoreInformation,
        OrangeApi::Ordering,
    ] {
        let mut r = row(
            t,
            "credential",
            format!("{} status (API key)", api.as_str()),
        );
        match c.api_status(api).await {
            Ok(v) => {
                let status = v.get("status").and_then(|s| s.as_str()).unwrap_or("?");
                let version = v.get("version").and_then(|s| s.as_str()).unwrap_or("");
                r.observed = format!("{status} {version}").trim().to_owned();
                r.ok = true;
            }
            Err(e) => r.observed = e.message,
        }
        r.setting = match api {
            OrangeApi::TroubleTicket => {
                "tenants[].orange.api_key, orange.trouble_ticket_path, \
                 orange.inferred.application_id_header"
            }
            _ => "tenants[].orange.api_key and the API's path under orange.*_path",
        }
        .into();
        rows.push(r);
    }
    for api in [
        OrangeApi::Incident,
        OrangeApi::TroubleTicket,
        OrangeApi::Ordering,
    ] {
        let field = c.reference_field(api).unwrap_or_default().to_owned();
        let mut r = row(t, "behaviour", format!("{} filter {field}=", api.as_str()));
        r.assumed = "honoured".into();
        // The duplicate guard verifies every object and falls back to a scan: informative.
        r.relied = false;
        r.setting = "none needed (the duplicate guard verifies each object)".into();
        verdict_into(&mut r, c.probe_reference_filter(api, &field).await);
        rows.push(r);
    }
    let polling = config.poller.enabled;
    for api in [OrangeApi::Incident, OrangeApi::Ordering] {
        let mut r = row(
            t,
            "behaviour",
            format!("{} sort=-{LAST_UPDATE}", api.as_str()),
        );
        r.assumed = "honoured".into();
        r.relied = polling;
        r.setting = "poller.scan: reread (or auto) when not honoured".into();
        verdict_into(&mut r, c.probe_sort(api, LAST_UPDATE).await);
        rows.push(r);
        let mut r = row(t, "behaviour", format!("{} {LAST_UPDATE}>=", api.as_str()));
        r.assumed = "honoured".into();
        r.relied = polling;
        r.setting = "poller.scan: reread (or auto) when not honoured".into();
        verdict_into(&mut r, c.probe_range_filter(api, LAST_UPDATE).await);
        rows.push(r);
    }
}

fn verdict_into(r: &mut Row, v: Result<Verdict, crate::domain::CallFailure>) {
    match v {
        Ok(v) => {
            // Undecidable is not a failure: nothing contradicts the assumption yet.
            r.ok = matches!(v, Verdict::Honoured | Verdict::Undecidable(_));
            r.observed = v.to_string();
        }
        Err(e) => r.observed = format!("error: {}", e.message),
    }
}

/// The rows as an aligned text table.
pub fn render(rows: &[Row]) -> String {
    let head = ["tenant", "check", "assumed", "observed", "ok", "setting"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let ok = match (r.ok, r.relied) {
                (true, _) => "yes",
                (false, true) => "NO",
                (false, false) => "differs",
            };
            [
                r.tenant.clone(),
                r.check.clone(),
                r.assumed.clone(),
                r.observed.clone(),
                ok.into(),
                r.setting.clone(),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: [&str; 6]| {
        let mut s = String::new();
        for (i, (v, w)) in c.iter().zip(width).enumerate() {
            if i == 5 {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$}  "));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(head);
    for c in &cells {
        out.push_str(&line([&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]));
    }
    out
}
