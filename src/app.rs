//! The composition root: the only place that names concrete adapters (SQLite or PostgreSQL
//! store, HTTP clients) and wires them; spawns the server and the workers under one
//! cancellation token and drains them on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::mapping::LiveMappings;
use crate::mapping::reload::{ReloadReport, ReloadResult, Trigger};
use crate::store::Store;

/// Everything the running gateway shares.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub mappings: Arc<LiveMappings>,
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
        let app = App {
            config: Arc::new(config),
            store,
            mappings: Arc::new(live),
        };
        for m in app.mappings.current().mappings() {
            for p in m.run_golden() {
                tracing::warn!(mapping.file = %p.file, at = %p.at, "golden case fails at startup (a reload would refuse this file): {}", p.message);
            }
        }
        crate::telemetry::families::register_tenants(&app.config);
        app.publish_reload_gauges();
        Ok(app)
    }

    /// Reloads the mappings, each (tenant, source) on its own: a file whose compile or golden
    /// cases fail is refused and its entries keep their last good version; the others take
    /// their changes. Logged and counted per entry.
    pub fn reload_mappings(&self, trigger: Trigger) -> ReloadReport {
        let report = self.mappings.reload_checked(&self.config, trigger);
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

        if app.config.reload_interval_secs > 0 {
            tasks.spawn(watch_mappings(app.clone(), token.clone()));
        }
        let orange = Arc::new(crate::orange::OrangeClients::from_config(&app.config)?);
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
            &app.config,
            reqwest::Client::builder()
                .build()
                .context("cannot build the ITSM HTTP client")?,
        ));
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
        let sources = crate::worker::SourceSync::from_config(&app.config);
        if !sources.is_empty() {
            let reconciler = crate::worker::ItsmReconciler::new(
                app.store.clone(),
                itsm,
                app.mappings.clone(),
                sources,
                replica.clone(),
            )
            .with_max_backlog(app.config.ingress.max_backlog);
            tasks.spawn(reconciler.run(token.clone()));
        }
        if app.config.poller.enabled {
            let poller = crate::worker::Poller::new(
                app.store.clone(),
                Arc::new(crate::worker::poller::OrangePollReader::new(orange)),
                app.mappings.clone(),
                app.config.tenants.iter().map(|t| t.id.clone()).collect(),
                crate::worker::PollSettings::from_config(&app.config.poller),
                replica,
            );
            tasks.spawn(poller.run(token.clone()));
        }

        let router = crate::http::router(crate::http::AppState::new(&app));
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

/// Reloads mappings when their files change (content hash, so ConfigMap symlink swaps count).
/// The first look reloads too: a file changed while the gateway was starting (after it loaded
/// the mappings, before this task ran) is not missed, and unchanged files swap nothing.
async fn watch_mappings(app: App, token: CancellationToken) {
    let every = Duration::from_secs(app.config.reload_interval_secs);
    let mut last = None;
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let dir = app.config.mappings_dir.clone();
        let now = tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .unwrap_or(0);
        if last != Some(now) {
            last = Some(now);
            let app = app.clone();
            let _ = tokio::task::spawn_blocking(move || app.reload_mappings(Trigger::Watch)).await;
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
