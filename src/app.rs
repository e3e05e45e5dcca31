//! The composition root: the only place that names concrete adapters (SQLite or PostgreSQL
//! store, HTTP clients, in sandbox mode the simulators) and wires them. It hands each adapter
//! its own config section, hands the router what it needs ([`App::router_state`]), spawns the
//! server and the workers under one cancellation token and drains them on shutdown.
//!
//! - `reload.rs`: reloads of the tenants and the mappings, the periodic look at the files.
//! - `replicas.rs`: this replica's name, heartbeat and share of the rate budgets.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod reload;
mod replicas;

use crate::config::Config;
use crate::config::live::{LiveConfig, Stage};
use crate::mapping::LiveMappings;
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
    pub live: Arc<LiveConfig>,
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
            live: Arc::new(LiveConfig::new(config.clone())),
            config,
            store,
            mappings: Arc::new(live),
        };
        for m in app.mappings.current().mappings() {
            for p in m.run_golden() {
                tracing::warn!(mapping.file = %p.file, at = %p.at, "golden case fails at startup (a reload would refuse this file): {}", p.message);
            }
        }
        crate::telemetry::families::register_tenants(&app.config.tenants);
        // A tenant added by a reload gets its series at zero too (counters already at a
        // value are left as they are: `increment(0)`).
        app.live.follow(Stage::Ingress, |c| {
            crate::telemetry::families::register_tenants(&c.tenants)
        });
        app.publish_reload_gauges();
        Ok(app)
    }

    /// The config in force: the startup settings with the tenants as last reloaded.
    pub fn tenants_config(&self) -> Arc<Config> {
        self.live.current()
    }

    /// What the router is given: the settings, the store, the mappings, the tenants in force
    /// and the way to reload them.
    pub fn router_state(&self) -> crate::http::AppState {
        crate::http::AppState::new(crate::http::Given {
            config: self.config.clone(),
            store: self.store.clone(),
            mappings: self.mappings.clone(),
            live: self.live.clone(),
            reloader: Arc::new(self.clone()),
        })
    }
}

/// Runs the gateway as `serve` does, until `shutdown` completes: listens on `config.listen`;
/// with `sandbox`, first starts the simulators on that address and points every Orange and
/// ITSM client at them (they stop once the gateway has drained).
pub async fn serve(
    mut config: Config,
    sandbox: Option<SocketAddr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let simulators = match sandbox {
        Some(addr) => Some(start_simulators(&mut config, addr, token.clone()).await?),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "itsm-bridge listening");
    let t = token.clone();
    let result = run(config, listener, async move {
        shutdown.await;
        t.cancel();
    })
    .await;
    token.cancel();
    if let Some(task) = simulators {
        let _ = task.await;
    }
    result
}

/// Sandbox mode: serves the simulators of Orange, ServiceNow and Jira on `addr` until `stop`
/// is cancelled, and points `config`'s clients at them with the sandbox credentials.
async fn start_simulators(
    config: &mut Config,
    addr: SocketAddr,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the simulators"))?;
    let base = url::Url::parse(&format!("http://{}", listener.local_addr()?))?;
    config.point_at_simulator(&base);
    tracing::info!(sim.addr = %base, "sandbox: simulators started in-process");
    Ok(tokio::spawn(crate::sim::serve(
        listener,
        crate::sim::SimOptions::default(),
        async move { stop.cancelled().await },
    )))
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

        let tenants = app.live.current();
        let orange = Arc::new(crate::orange::OrangeClients::new(
            &app.config.orange,
            app.config.delivery.max_attachment_bytes,
            &tenants.tenants,
        )?);
        let follow = orange.clone();
        app.live.follow(Stage::Workers, move |c| {
            if let Err(e) = follow.update(&c.tenants) {
                tracing::error!(error = %e, "Orange clients not rebuilt; the previous tenants' clients serve");
            }
        });
        let replica = replicas::replica_id();
        if app.config.delivery.enabled || app.config.poller.enabled {
            replicas::join(app.store.as_ref(), &orange, &replica).await;
            tasks.spawn(replicas::heartbeat(
                app.store.clone(),
                orange.clone(),
                replica.clone(),
                token.clone(),
            ));
        }
        // One set of ITSM clients: write-backs and reconciliation reads share each tenant's
        // ITSM rate budget.
        let itsm = Arc::new(crate::itsm::ItsmClients::new(
            reqwest::Client::builder()
                .build()
                .context("cannot build the ITSM HTTP client")?,
            &tenants.tenants,
        ));
        let follow = itsm.clone();
        app.live
            .follow(Stage::Workers, move |c| follow.update(&c.tenants));
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
        let sources = crate::worker::SourceSync::from_tenants(&tenants.tenants);
        let reconciler = crate::worker::ItsmReconciler::new(
            app.store.clone(),
            itsm,
            app.mappings.clone(),
            sources,
            replica.clone(),
        )
        .with_max_backlog(app.config.ingress.max_backlog);
        let synced = reconciler.source_list();
        app.live.follow(Stage::Workers, move |c| {
            *synced.write().unwrap_or_else(|e| e.into_inner()) =
                crate::worker::SourceSync::from_tenants(&c.tenants);
        });
        tasks.spawn(reconciler.run(token.clone()));
        if app.config.poller.enabled {
            let poller = crate::worker::Poller::new(
                app.store.clone(),
                orange,
                app.mappings.clone(),
                tenants.tenants.iter().map(|t| t.id.clone()).collect(),
                crate::worker::PollSettings::from_config(&app.config.poller),
                replica,
            );
            let polled = poller.tenant_list();
            app.live.follow(Stage::Workers, move |c| {
                *polled.write().unwrap_or_else(|e| e.into_inner()) =
                    c.tenants.iter().map(|t| t.id.clone()).collect();
            });
            tasks.spawn(poller.run(token.clone()));
        }

        let state = app.router_state();
        let follow = state.clone();
        app.live
            .follow(Stage::Ingress, move |c| follow.reload_routes(c));
        // Registered after every follower, so the first look's changes reach them all.
        if app.config.reload_interval_secs > 0 {
            tasks.spawn(reload::watch(app.clone(), token.clone()));
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
