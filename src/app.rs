//! The composition root: the only place that names concrete adapters (SQLite or PostgreSQL
//! store, HTTP clients) and wires them; spawns the server and the workers under one
//! cancellation token and drains them on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod live;

use crate::config::Config;
use crate::mapping::LiveMappings;
use crate::mapping::reload::{ReloadReport, ReloadResult, Trigger};
use crate::store::Store;

/// Everything the running gateway shares.
#[derive(Clone)]
pub struct App {
    /// The config the gateway started with. Its tenants may since have changed: per-tenant
    /// lookups use [`App::tenants_config`].
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub mappings: Arc<LiveMappings>,
    /// The config in force, tenants reloaded from their files.
    pub live: Arc<live::LiveConfig>,
}

/// Opens the store the config's URL names.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = &config.store.url;
    let redacted = crate::config::redact_url(url);
    let max = config.store.max_connections;
    let store: Arc<dyn Store> =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(
                crate::store::postgres::PgStore::connect(url, max)
                    .await
                    .with_context(|| format!("cannot open the store {redacted}"))?,
            )
        } else if url.starts_with("sqlite:") {
            Arc::new(
                crate::store::sqlite::SqliteStore::open(url, max)
                    .await
                    .with_context(|| format!("cannot open the store {redacted}"))?,
            )
        } else {
            anyhow::bail!(
                "cannot open the store {redacted}: the URL must start with sqlite:// or postgres://"
            )
        };
    tracing::info!(backend = store.backend(), url = %redacted, "store opened");
    Ok(store)
}

impl App {
    /// Opens and migrates the store and compiles the mappings; fails on any problem.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        // Install the metrics recorder before anything counts.
        crate::telemetry::prometheus();
        let store = open_store(&config).await?;
        store.migrate().await.context("store migration failed")?;
        // A file that does not compile stops the start (there is no last good version to
        // serve in its place), as before reloads were checked. Golden cases are `check`'s at
        // startup (the chart runs it as an init container): failing ones are only warned of
        // here, and every later reload refuses them.
        let live = LiveMappings::load_checked(&config).map_err(|ps| {
            anyhow::anyhow!(
                "mappings have problems:\n{}",
                ps.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
        let config = Arc::new(config);
        let app = App {
            live: Arc::new(live::LiveConfig::new(config.clone())),
            config,
            store,
            mappings: Arc::new(live),
        };
        for m in app.mappings.current().mappings() {
            for p in m.run_golden() {
                tracing::warn!(mapping.file = %p.file, at = %p.at, "golden case fails at startup (a reload would refuse this file): {}", p.message);
            }
        }
        crate::telemetry::families::register_tenants(&app.config);
        // A tenant added by a reload gets its series at zero too (counters already at a
        // value are left as they are: `increment(0)`).
        app.live.follow(
            live::Stage::Ingress,
            crate::telemetry::families::register_tenants,
        );
        app.publish_reload_gauges();
        Ok(app)
    }

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

    /// The config in force: the startup settings with the tenants as last reloaded.
    pub fn tenants_config(&self) -> Arc<Config> {
        self.live.current()
    }

    /// Reloads the tenants (their files, the config file's `tenants`, the secret files they
    /// read), then the mappings when `mappings` is set or the tenants changed. What holds
    /// per-tenant state follows: clients and workers first, then the mappings, then the
    /// webhook routes. Logged once per change or new refusal.
    pub fn reload(
        &self,
        trigger: Trigger,
        mappings: bool,
    ) -> (live::TenantReport, Option<ReloadReport>) {
        let report = self.live.reload(trigger);
        log_tenant_reload(&report);
        let changed = report.changed_any();
        if changed {
            self.live.notify(live::Stage::Workers);
        }
        let mapped = (mappings || changed).then(|| self.reload_mappings(trigger));
        if changed {
            self.live.notify(live::Stage::Ingress);
        }
        (report, mapped)
    }

    /// `itsm_bridge_mappings_refused{tenant}`: the tenant's mappings whose file on disk was
    /// refused at the last attempt (a last good version serves in its place).
    fn publish_reload_gauges(&self) {
        let mut by_tenant: std::collections::BTreeMap<String, usize> = Default::default();
        for ((tenant, _), e) in &self.mappings.status().entries {
            *by_tenant.entry(tenant.to_string()).or_default() += usize::from(e.refused());
        }
        for (tenant, n) in by_tenant {
            metrics::gauge!("itsm_bridge_mappings_refused", "tenant" => tenant).set(n as f64);
        }
    }
}

/// Runs the gateway on a bound listener until `shutdown` completes, then drains: in-flight
/// requests finish, workers stop after their current step.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    App::build(config).await?.serve(listener, shutdown).await
}

impl App {
    /// Serves HTTP and runs the workers until `shutdown` completes, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = self;
        let token = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();

        let orange = Arc::new(crate::orange::OrangeClients::from_config(
            &app.live.current(),
        )?);
        let follow = orange.clone();
        app.live.follow(live::Stage::Workers, move |c| {
            if let Err(e) = follow.update(c) {
                tracing::error!(error = %e, "Orange clients not rebuilt; the previous tenants' clients serve");
            }
        });
        let replica = replica_id();
        if app.config.delivery.enabled || app.config.poller.enabled {
            join_replicas(&app, &orange, &replica).await;
            tasks.spawn(heartbeat(
                app.clone(),
                orange.clone(),
                replica.clone(),
                token.clone(),
            ));
        }
        // One set of ITSM clients: write-backs and reconciliation reads share each tenant's
        // ITSM rate budget.
        let itsm = Arc::new(crate::itsm::ItsmClients::from_config(
            &app.live.current(),
            reqwest::Client::builder()
                .build()
                .context("cannot build the ITSM HTTP client")?,
        ));
        let follow = itsm.clone();
        app.live
            .follow(live::Stage::Workers, move |c| follow.update(c));
        if app.config.delivery.enabled {
            let dispatcher = crate::worker::Dispatcher::new(
                app.store.clone(),
                orange.clone(),
                itsm.clone(),
                app.config.delivery.for_tenants(app.config.tenants.len()),
                replica.clone(),
            );
            tasks.spawn(Arc::new(dispatcher).run(token.clone()));
        }
        if app.config.retention.interval_secs > 0 {
            let purger = crate::worker::retention::Purger::new(
                app.store.clone(),
                app.config.retention.clone(),
                replica.clone(),
            );
            tasks.spawn(purger.run(token.clone()));
        }
        // Runs even with no source to reconcile yet (an idle look a minute): a reload of the
        // tenants may add one.
        let sources = crate::worker::SourceSync::from_config(&app.live.current());
        let reconciler = crate::worker::ItsmReconciler::new(
            app.store.clone(),
            itsm,
            app.mappings.clone(),
            sources,
            replica.clone(),
        )
        .with_max_backlog(app.config.ingress.max_backlog);
        let synced = reconciler.source_list();
        app.live.follow(live::Stage::Workers, move |c| {
            *synced.write().unwrap_or_else(|e| e.into_inner()) =
                crate::worker::SourceSync::from_config(c);
        });
        tasks.spawn(reconciler.run(token.clone()));
        if app.config.poller.enabled {
            let poller = crate::worker::Poller::new(
                app.store.clone(),
                orange,
                app.mappings.clone(),
                app.live
                    .current()
                    .tenants
                    .iter()
                    .map(|t| t.id.clone())
                    .collect(),
                crate::worker::PollSettings::from_config(&app.config.poller),
                replica,
            );
            let polled = poller.tenant_list();
            app.live.follow(live::Stage::Workers, move |c| {
                *polled.write().unwrap_or_else(|e| e.into_inner()) =
                    c.tenants.iter().map(|t| t.id.clone()).collect();
            });
            tasks.spawn(poller.run(token.clone()));
        }

        let state = crate::http::AppState::new(&app);
        let follow = state.clone();
        app.live
            .follow(live::Stage::Ingress, move |c| follow.reload_routes(c));
        // Registered after every follower, so the first look's changes reach them all.
        if app.config.reload_interval_secs > 0 {
            tasks.spawn(watch(app.clone(), token.clone()));
        }
        let router = crate::http::router(state);
        let t = token.clone();
        let limits = crate::http::server::ServerLimits::from_config(&app.config.server);
        let served = crate::http::server::serve(listener, router, limits, async move {
            tokio::select! {
                () = shutdown => {},
                () = t.cancelled() => {},
            }
        })
        .await;
        token.cancel();
        while tasks.join_next().await.is_some() {}
        // The followers hold the router's state, which holds the app: let them go.
        app.live.unfollow_all();
        served.context("HTTP server failed")
    }
}

/// How often a replica says it is alive; it counts as gone after three missed beats.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Announces this replica before it sends anything, so the others shrink their share of each
/// credential's budget first: on a shared store, beat, wait one beat (they learn of us),
/// beat again and take our share.
async fn join_replicas(app: &App, orange: &crate::orange::OrangeClients, replica: &str) {
    let beat = || async {
        let now = time::OffsetDateTime::now_utc();
        app.store.heartbeat(replica, now, now + HEARTBEAT * 3).await
    };
    if let Ok(n) = beat().await {
        orange.set_replicas(n);
        if app.store.backend() != "sqlite" {
            tokio::time::sleep(HEARTBEAT + HEARTBEAT / 2).await;
            if let Ok(n) = beat().await {
                orange.set_replicas(n);
            }
        }
    }
}

/// Keeps this replica's heartbeat fresh and its share of the rate budgets current.
async fn heartbeat(
    app: App,
    orange: Arc<crate::orange::OrangeClients>,
    replica: String,
    token: CancellationToken,
) {
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(HEARTBEAT) => {}
        }
        let now = time::OffsetDateTime::now_utc();
        match app
            .store
            .heartbeat(&replica, now, now + HEARTBEAT * 3)
            .await
        {
            Ok(n) => orange.set_replicas(n),
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed; keeping the current rate share")
            }
        }
    }
}

/// This replica's name in leases: the host name (the pod name on Kubernetes) plus a random
/// suffix, so a restarted process never mistakes its predecessor's leases for its own.
fn replica_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "itsm-bridge".into());
    format!("{host}-{}", uuid::Uuid::new_v4().simple())
}

/// Every `reload_interval_secs`: reloads the tenants when their files (or the secret files
/// they read) changed, and the mappings when theirs did (content hash, so ConfigMap symlink
/// swaps count). The first look reloads too: a file changed while the gateway was starting
/// (after it loaded, before this task ran) is not missed, and unchanged files swap nothing.
async fn watch(app: App, token: CancellationToken) {
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
fn log_tenant_reload(report: &live::TenantReport) {
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
