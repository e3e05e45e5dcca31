//! Reloads of the running gateway: the tenants (their files and secret files), then the
//! mappings, each logged and counted; the periodic look at the files; and the reload the
//! router asks for (`POST /admin/v1/reload`, through [`crate::http::Reloader`]).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::App;
use crate::config::live::{Stage, TenantReport};
use crate::mapping::reload::{ReloadReport, ReloadResult, Trigger};

impl App {
    /// Reloads the mappings, each (tenant, source) on its own: a file whose compile or golden
    /// cases fail is refused and its entries keep their last good version; the others take
    /// their changes. Logged and counted per entry.
    pub fn reload_mappings(&self, trigger: Trigger) -> ReloadReport {
        let report = self.mappings.reload_checked(&self.live.current(), trigger);
        for e in &report.entries {
            metrics::counter!("itsm_bridge_mapping_reload_total",
                "tenant" => e.tenant.to_string(), "result" => e.result.as_str())
            .increment(1);
            match e.result {
                ReloadResult::Applied => tracing::info!(tenant = %e.tenant, source = %e.source,
                    mapping.file = %e.file, "mapping reloaded"),
                ReloadResult::Unchanged => {}
                ReloadResult::Refused => tracing::warn!(tenant = %e.tenant, source = %e.source,
                    mapping.file = %e.file, problems = e.problems.len(),
                    first = e.problems.first().map(|p| format!("{}: {}", p.at, p.message)),
                    last_good_serves = e.last_good_serves,
                    "mapping reload refused; the last good version keeps serving"),
            }
        }
        self.publish_reload_gauges();
        report
    }

    /// Reloads the tenants (their files, the config file's `tenants`, the secret files they
    /// read), then the mappings when `mappings` is set or the tenants changed. What holds
    /// per-tenant state follows: clients and workers first, then the mappings, then the
    /// webhook routes. Logged once per change or new refusal.
    pub fn reload(&self, trigger: Trigger, mappings: bool) -> (TenantReport, Option<ReloadReport>) {
        let report = self.live.reload(trigger);
        log_tenant_reload(&report);
        let changed = report.changed_any();
        if changed {
            self.live.notify(Stage::Workers);
        }
        let mapped = (mappings || changed).then(|| self.reload_mappings(trigger));
        if changed {
            self.live.notify(Stage::Ingress);
        }
        (report, mapped)
    }

    /// `itsm_bridge_mappings_refused{tenant}`: the tenant's mappings whose file on disk was
    /// refused at the last attempt (a last good version serves in its place).
    pub(super) fn publish_reload_gauges(&self) {
        let mut by_tenant: std::collections::BTreeMap<String, usize> = Default::default();
        for ((tenant, _), e) in &self.mappings.status().entries {
            *by_tenant.entry(tenant.to_string()).or_default() += usize::from(e.refused());
        }
        for (tenant, n) in by_tenant {
            metrics::gauge!("itsm_bridge_mappings_refused", "tenant" => tenant).set(n as f64);
        }
    }
}

impl crate::http::Reloader for App {
    fn reload_now(&self) -> (TenantReport, ReloadReport) {
        let (tenants, mapped) = self.reload(Trigger::Admin, true);
        // Asked for (`mappings` set), the mappings' reload always ran: `None` is not reached.
        let mapped = mapped.unwrap_or_else(|| self.reload_mappings(Trigger::Admin));
        (tenants, mapped)
    }
}

/// Every `reload_interval_secs`: reloads the tenants when their files (or the secret files
/// they read) changed, and the mappings when theirs did (content hash, so ConfigMap symlink
/// swaps count). The first look reloads too: a file changed while the gateway was starting
/// (after it loaded, before this task ran) is not missed, and unchanged files swap nothing.
pub(super) async fn watch(app: App, token: CancellationToken) {
    let every = Duration::from_secs(app.config.reload_interval_secs);
    let mut last = None;
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let app = app.clone();
        let seen = last;
        let looked = tokio::task::spawn_blocking(move || {
            let now = fingerprint(&app.live.current().mappings_dir);
            app.reload(Trigger::Watch, seen != Some(now));
            now
        })
        .await;
        if let Ok(now) = looked {
            last = Some(now);
        }
    }
}

/// Logs and counts one reload of the tenants: changes at INFO, removals and new refusals at
/// WARN (a refusal already logged at the previous look is not logged again).
fn log_tenant_reload(report: &TenantReport) {
    for t in &report.added {
        tracing::info!(tenant = %t, "tenant added");
    }
    for t in &report.changed {
        tracing::info!(tenant = %t, "tenant reloaded (settings or secrets changed)");
    }
    for t in &report.removed {
        tracing::warn!(tenant = %t, "tenant removed: its webhooks answer 404; its queued deliveries stay in the store, held without attempts, until it is back");
    }
    for r in report.refused.iter().filter(|r| !r.repeated) {
        tracing::warn!(tenant.file = %r.file, last_good = ?r.last_good.as_ref().map(|t| t.as_str()),
            problems = r.problems.len(), first = r.problems.first().map(String::as_str),
            "tenant file refused; its last good version (if any) keeps serving");
    }
    for (result, n) in [
        ("added", report.added.len()),
        ("changed", report.changed.len()),
        ("removed", report.removed.len()),
        (
            "refused",
            report.refused.iter().filter(|r| !r.repeated).count(),
        ),
    ] {
        if n > 0 {
            metrics::counter!("itsm_bridge_tenant_reload_total", "result" => result)
                .increment(n as u64);
        }
    }
}

/// A hash of every file's path and content under `dir`.
fn fingerprint(dir: &std::path::Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in files {
        f.hash(&mut h);
        std::fs::read(&f).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}
