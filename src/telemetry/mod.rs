//! Logging (tracing, JSON or pretty) and the Prometheus recorder: every family described
//! from one table (`families.rs`), the process metrics read at scrape time (`process.rs`), and
//! traces over OTLP when a collector is configured (`otlp.rs`).

pub mod families;
pub mod otlp;
mod process;

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat, TelemetryConfig};

/// Installs the global tracing subscriber (once; later calls are ignored), without traces.
pub fn init_logging(cfg: &LogConfig) {
    init(cfg, &TelemetryConfig::default());
}

/// Installs the global tracing subscriber (once; later calls are ignored): log lines on
/// stderr, and spans over OTLP when `telemetry` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) names a
/// collector.
pub fn init(cfg: &LogConfig, telemetry: &TelemetryConfig) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match cfg.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    type Boxed = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // Each JSON line lists its spans with their fields: a request's lines carry its
    // `request_id` (`spans[0].request_id`).
    let fmt: Boxed = if json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_filter(filter)
            .boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let endpoint = telemetry.otlp_endpoint.clone().or_else(|| {
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .ok()
            .and_then(|v| url::Url::parse(&v).ok())
    });
    let mut layers = vec![fmt];
    layers.extend(
        endpoint
            .as_ref()
            .map(|e| otlp::install(e, &telemetry.service_name).boxed()),
    );
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok()
        && let Some(e) = &endpoint
    {
        tracing::info!(otlp.endpoint = %e, "traces are sent over OTLP/HTTP");
    }
}

/// The process-wide Prometheus recorder (installed on first use). Tests running several apps
/// in one process share it, which is why it is global.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ])
            .expect("static buckets are valid")
            .build_recorder();
        families::describe(&recorder);
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; ours then stays empty, which
        // /metrics shows rather than crashing.
        let _ = metrics::set_global_recorder(recorder);
        families::register_static();
        handle
    })
}

/// The `/metrics` page: the recorder's families and the process's.
pub fn render() -> String {
    let mut text = prometheus().render();
    text.push_str(&process::render());
    text
}
