//! Every metric family the gateway exports, in one table: name, type, HELP text and label
//! names. The recorder is described from it at install (so `/metrics` carries `# HELP` and
//! `# TYPE` for every family, as `promtool check metrics` wants), and a test fails when a
//! metric macro in `src/` names a family that is not here (or here with another type).
//!
//! Per-tenant series are registered at zero when the tenants are known ([`register_tenant`]),
//! so `rate()` and `increase()` alerts see a series from a fresh pod's first scrape on.

use metrics::{KeyName, Recorder, SharedString};

use crate::config::TenantConfig;

/// A family's Prometheus type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub labels: &'static [&'static str],
}

const fn f(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        help,
        labels,
    }
}

use Kind::{Counter as C, Gauge as G, Histogram as H};

/// The families, grouped by room.
pub const FAMILIES: &[Family] = &[
    // The process and the build.
    f(
        "itsm_bridge_build_info",
        G,
        &["version", "revision"],
        "Always 1; the running build's version and source revision.",
    ),
    f(
        "process_cpu_seconds_total",
        C,
        &[],
        "User and system CPU time the process has used, in seconds.",
    ),
    f(
        "process_resident_memory_bytes",
        G,
        &[],
        "Resident memory of the process, in bytes.",
    ),
    f(
        "process_virtual_memory_bytes",
        G,
        &[],
        "Virtual memory size of the process, in bytes.",
    ),
    f(
        "process_open_fds",
        G,
        &[],
        "File descriptors the process holds open.",
    ),
    f(
        "process_max_fds",
        G,
        &[],
        "The process's limit on open file descriptors.",
    ),
    f(
        "process_start_time_seconds",
        G,
        &[],
        "Start time of the process, in seconds since the Unix epoch.",
    ),
    f("process_threads", G, &[], "Threads of the process."),
    f(
        "itsm_bridge_otlp_spans_dropped_total",
        C,
        &[],
        "Finished spans not delivered to the OTLP collector (queue full or export failed).",
    ),
    f(
        "itsm_bridge_otlp_export_failures_total",
        C,
        &[],
        "OTLP export requests that failed.",
    ),
    // HTTP server.
    f(
        "itsm_bridge_http_request_seconds",
        H,
        &["route", "method", "status"],
        "Time to answer an HTTP request, by matched route (unmatched for none), method and status.",
    ),
    f(
        "itsm_bridge_http_connections",
        G,
        &[],
        "HTTP connections open now.",
    ),
    f(
        "itsm_bridge_http_connections_closed_total",
        C,
        &["reason"],
        "HTTP connections the server closed by one of its timeouts.",
    ),
    f(
        "itsm_bridge_http_bodies_refused_total",
        C,
        &["reason"],
        "Request bodies refused before reading: busy (memory across requests) or timeout.",
    ),
    // Ingress and intake.
    f(
        "itsm_bridge_webhooks_received_total",
        C,
        &["tenant", "source"],
        "Webhooks that passed authentication, by tenant and source.",
    ),
    f(
        "itsm_bridge_webhooks_rejected_total",
        C,
        &["reason"],
        "Webhooks refused before commit, by reason.",
    ),
    f(
        "itsm_bridge_webhooks_duplicate_total",
        C,
        &["tenant"],
        "Webhooks already committed once (idempotent repeats), acknowledged without a new event.",
    ),
    f(
        "itsm_bridge_ingest_commit_seconds",
        H,
        &[],
        "Time to commit one webhook's event and planned calls.",
    ),
    f(
        "itsm_bridge_events_parked_total",
        C,
        &["tenant", "reason"],
        "Events the mapping could not handle, parked for a fix and replay.",
    ),
    f(
        "itsm_bridge_events_unrouted_total",
        C,
        &["tenant", "source", "event_type"],
        "Events no mapping route matched.",
    ),
    f(
        "itsm_bridge_events_replayed_total",
        C,
        &["tenant", "outcome"],
        "Parked events replayed, by outcome (mapped or parked again).",
    ),
    f(
        "itsm_bridge_echoes_dropped_total",
        C,
        &["tenant"],
        "ITSM changes recognised as the gateway's own write-backs and dropped.",
    ),
    // Tenants.
    f(
        "itsm_bridge_tenant_reload_total",
        C,
        &["result"],
        "Tenant reload outcomes per tenant: added, changed, removed or refused (a tenant file that does not load keeps its last good version).",
    ),
    // Mappings.
    f(
        "itsm_bridge_mapping_reload_total",
        C,
        &["tenant", "result"],
        "Mapping reload outcomes per entry: applied, unchanged or refused.",
    ),
    f(
        "itsm_bridge_mappings_refused",
        G,
        &["tenant"],
        "Mappings whose file on disk was refused at the last reload (a last good version serves).",
    ),
    // Deliveries.
    f(
        "itsm_bridge_queue_depth",
        G,
        &["state"],
        "Deliveries by state: pending, waiting_link, in_flight.",
    ),
    f(
        "itsm_bridge_dead_letters",
        G,
        &[],
        "Deliveries in the dead-letter state, waiting for an operator.",
    ),
    f(
        "itsm_bridge_oldest_pending_seconds",
        G,
        &[],
        "Age of the oldest pending delivery, in seconds (0 when none).",
    ),
    f(
        "itsm_bridge_delivery_attempts_total",
        C,
        &["target", "outcome"],
        "Delivery attempts by target and outcome.",
    ),
    f(
        "itsm_bridge_deliveries_deferred_total",
        C,
        &["reason"],
        "Deliveries put back without an attempt (fair share, rate budget), by reason.",
    ),
    f(
        "itsm_bridge_tenant_calls_in_flight",
        G,
        &["tenant"],
        "Outbound calls of the tenant in flight now.",
    ),
    // Outbound.
    f(
        "itsm_bridge_orange_request_seconds",
        H,
        &["api", "status"],
        "Duration of one HTTP exchange with Orange, by API and status (error when no response).",
    ),
    f(
        "itsm_bridge_rate_limiter_wait_seconds",
        H,
        &["credential"],
        "Time an Orange call waited for its credential's rate limiter.",
    ),
    f(
        "itsm_bridge_itsm_request_seconds",
        H,
        &["itsm", "status"],
        "Duration of one call to the customer's ITSM, by system and status (error when no response).",
    ),
    f(
        "itsm_bridge_writebacks_total",
        C,
        &["itsm", "outcome"],
        "Write-backs to the ITSM by outcome.",
    ),
    // Poll-back and reconciliation.
    f(
        "itsm_bridge_poll_cycles_total",
        C,
        &["tenant"],
        "Completed poll cycles.",
    ),
    f(
        "itsm_bridge_poll_calls",
        H,
        &["tenant"],
        "Orange calls one poll cycle made.",
    ),
    f(
        "itsm_bridge_poll_changes_total",
        C,
        &["tenant"],
        "Changes poll cycles found at Orange.",
    ),
    f(
        "itsm_bridge_poll_read_failures_total",
        C,
        &["tenant"],
        "Poll reads that failed.",
    ),
    f(
        "itsm_bridge_poll_mode",
        G,
        &["tenant", "api", "mode"],
        "1 for the poll mode each tenant and API uses now, 0 for the others.",
    ),
    f(
        "itsm_bridge_poll_last_cycle_timestamp_seconds",
        G,
        &["tenant"],
        "Unix time the last poll cycle this replica ran for the tenant ended (ok or failed).",
    ),
    f(
        "itsm_bridge_reconcile_repairs_total",
        C,
        &["tenant"],
        "ITSM changes reconciliation found missed and took in.",
    ),
    // Store.
    f(
        "itsm_bridge_store_commit_batch_size",
        H,
        &[],
        "Writes committed together in one store transaction.",
    ),
    f(
        "itsm_bridge_store_write_batch_seconds",
        H,
        &[],
        "Time to write one batch to SQLite.",
    ),
    f(
        "itsm_bridge_store_fsync_seconds",
        H,
        &[],
        "Time of one SQLite fsync.",
    ),
    f(
        "itsm_bridge_store_wal_frames",
        G,
        &[],
        "Frames in the SQLite write-ahead log.",
    ),
    f(
        "itsm_bridge_store_wal_tail_copy_seconds",
        H,
        &[],
        "Time to copy the SQLite write-ahead log's tail into the database.",
    ),
    f(
        "itsm_bridge_store_ticket_index_step_seconds",
        H,
        &[],
        "Time of one step of the SQLite ticket index build.",
    ),
    f(
        "itsm_bridge_purged_rows_total",
        C,
        &["table"],
        "Rows the retention purger removed, by table.",
    ),
];

/// The family called `name`.
pub fn family(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

/// Gives every family its HELP text (and so its TYPE line) on `recorder`.
pub fn describe(recorder: &impl Recorder) {
    for fam in FAMILIES {
        let (key, help) = (
            KeyName::from_const_str(fam.name),
            SharedString::const_str(fam.help),
        );
        match fam.kind {
            Kind::Counter => recorder.describe_counter(key, None, help),
            Kind::Gauge => recorder.describe_gauge(key, None, help),
            Kind::Histogram => recorder.describe_histogram(key, None, help),
        }
    }
}

/// Registers the families without labels at zero (and the build info at one), so a fresh
/// gateway's first scrape already has them.
pub fn register_static() {
    // The process families are rendered at scrape time (`process.rs`), not recorded.
    let recorded = |f: &&Family| f.labels.is_empty() && !f.name.starts_with("process_");
    for fam in FAMILIES.iter().filter(recorded) {
        match fam.kind {
            Kind::Counter => metrics::counter!(fam.name).increment(0),
            // Process gauges are set at every scrape; the others by their owners.
            Kind::Gauge => {}
            Kind::Histogram => {
                let _ = metrics::histogram!(fam.name);
            }
        }
    }
    metrics::gauge!(
        "itsm_bridge_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "revision" => env!("ITSM_BRIDGE_GIT_REVISION")
    )
    .set(1.0);
    for state in ["pending", "waiting_link", "in_flight"] {
        metrics::gauge!("itsm_bridge_queue_depth", "state" => state).increment(0.0);
    }
    for reason in ["unauthorized", "store_rejected", "store_unavailable"] {
        metrics::counter!("itsm_bridge_webhooks_rejected_total", "reason" => reason).increment(0);
    }
}

/// Registers the per-tenant series of every configured tenant at zero (existing ones keep
/// their values: adding zero changes nothing). Called at start and when tenants change.
pub fn register_tenants(tenants: &[TenantConfig]) {
    for t in tenants {
        register_tenant(t.id.as_str(), t.sources.keys().map(|s| s.as_str()));
    }
}

/// Registers one tenant's series at zero.
pub fn register_tenant<'a>(tenant: &str, sources: impl Iterator<Item = &'a str>) {
    let t = || tenant.to_owned();
    for source in sources {
        metrics::counter!("itsm_bridge_webhooks_received_total", "tenant" => t(), "source" => source.to_owned())
            .increment(0);
    }
    for name in [
        "itsm_bridge_webhooks_duplicate_total",
        "itsm_bridge_echoes_dropped_total",
        "itsm_bridge_poll_cycles_total",
        "itsm_bridge_poll_changes_total",
        "itsm_bridge_poll_read_failures_total",
        "itsm_bridge_reconcile_repairs_total",
    ] {
        metrics::counter!(name, "tenant" => t()).increment(0);
    }
    for reason in crate::domain::ParkReason::ALL {
        metrics::counter!("itsm_bridge_events_parked_total", "tenant" => t(), "reason" => reason.as_str())
            .increment(0);
    }
    metrics::gauge!("itsm_bridge_tenant_calls_in_flight", "tenant" => t()).increment(0.0);
    metrics::gauge!("itsm_bridge_mappings_refused", "tenant" => t()).increment(0.0);
}

#[cfg(test)]
#[path = "families_tests.rs"]
mod tests;
