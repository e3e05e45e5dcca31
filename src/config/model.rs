//! The config types. Every field carries a `///` that the README's reference repeats; the
//! defaults live in [`defaults`] and nowhere else. The gateway-wide sections are here, a
//! customer's (`tenants[]`) in `tenant.rs`.

pub mod defaults;
mod tenant;

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::RetryPolicy;

pub use tenant::*;

/// A secret value: never printed (`Debug` shows `[REDACTED]`), exposed only where used.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(SecretString::from(s.into()))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the gateway listens on; `--listen` and `ITSM_BRIDGE_LISTEN` override it.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Durable state.
    #[serde(default)]
    pub store: StoreConfig,
    /// Webhook intake limits.
    #[serde(default)]
    pub ingress: IngressConfig,
    /// Connections: timeouts, the connection cap and the memory bodies may take.
    #[serde(default)]
    pub server: ServerConfig,
    /// The admin API (`/admin/v1/…`).
    #[serde(default)]
    pub admin: AdminConfig,
    /// Folder of the mapping files; `mapping:` paths of sources are relative to it.
    #[serde(default = "defaults::mappings_dir")]
    pub mappings_dir: PathBuf,
    /// How often mapping files are checked for changes, in seconds (0 = only on
    /// `POST /admin/v1/reload`).
    #[serde(default = "defaults::reload_interval_secs")]
    pub reload_interval_secs: u64,
    /// Where Orange's APIs are and how the gateway talks to them.
    #[serde(default)]
    pub orange: OrangeConfig,
    /// Outbound delivery (to Orange and back to the ITSMs).
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Poll-back of Orange changes into the ITSMs.
    #[serde(default)]
    pub poller: PollerConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// How long finished events, deliveries and attempts are kept.
    #[serde(default)]
    pub retention: super::RetentionConfig,
    /// The customers served by this gateway.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// Folder of tenant files: one YAML file per tenant (`*.yaml`, `*.yml`; names starting
    /// with `.` are ignored), same schema as an entry of `tenants`, added to them. Checked for
    /// changes every `reload_interval_secs` (and on `POST /admin/v1/reload`): a tenant is
    /// added, changed or removed without a restart; a broken file keeps its tenant's last
    /// good version.
    #[serde(default)]
    pub tenants_dir: Option<PathBuf>,
    /// Where this config was read from, and every file it depends on (for reloads).
    #[serde(skip)]
    pub origin: super::ConfigOrigin,
}

/// `store:` (its `Debug` hides the URL's password)
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (one replica) or `postgres://…` (several replicas).
    #[serde(default = "defaults::store_url")]
    pub url: String,
    /// Connection pool size.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &super::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `ingress:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressConfig {
    /// Largest accepted webhook body, in bytes (Jira sends up to 25 MB; typical is < 100 KB).
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: usize,
    /// Pending deliveries beyond which webhooks are answered 429 with `Retry-After`.
    #[serde(default = "defaults::max_backlog")]
    pub max_backlog: u64,
    /// Seconds an ITSM is asked to wait (`Retry-After`) when the gateway cannot take more.
    #[serde(default = "defaults::retry_after_secs")]
    pub retry_after_secs: u64,
}

/// `server:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Seconds a client has to send a request's line and headers, counted from its first
    /// byte (or from the connection's opening); the connection is closed when they run out.
    #[serde(default = "defaults::header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait, idle, for its next request before it is closed.
    #[serde(default = "defaults::idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Seconds a client has to send a request's body, counted from the end of its headers;
    /// a slower body is answered 408.
    #[serde(default = "defaults::body_read_timeout_secs")]
    pub body_read_timeout_secs: u64,
    /// Most connections open at once; further clients wait in the listen backlog.
    #[serde(default = "defaults::server_max_connections")]
    pub max_connections: usize,
    /// Most request-body bytes read or being handled at once, across all requests (a body
    /// without `Content-Length` counts as its route's limit); a request that cannot get its
    /// share within `body_read_timeout_secs` is answered 503 with `Retry-After`.
    #[serde(default = "defaults::max_body_bytes_in_flight")]
    pub max_body_bytes_in_flight: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: defaults::header_read_timeout_secs(),
            idle_timeout_secs: defaults::idle_timeout_secs(),
            body_read_timeout_secs: defaults::body_read_timeout_secs(),
            max_connections: defaults::server_max_connections(),
            max_body_bytes_in_flight: defaults::max_body_bytes_in_flight(),
        }
    }
}

/// `admin:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token of the admin API (and the console): at least
    /// [`MIN_ADMIN_TOKEN_CHARS`] visible ASCII characters. The admin API is disabled (404)
    /// when unset; an empty or shorter token is a config error, never an open API.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Named tokens, each with a role and the tenants it sees (`config/admin.rs`); they open
    /// the admin API and the console as `admin.token` does.
    #[serde(default)]
    pub tokens: Vec<super::NamedToken>,
}

/// The shortest admin token accepted: an empty `${ADMIN_TOKEN:-}` must not open the API.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

impl AdminConfig {
    /// The token, when it is one the admin API may be opened with. A config that skipped
    /// `validate()` (built in code) with an empty or short token keeps the API off.
    pub fn usable_token(&self) -> Option<&Secret> {
        self.token
            .as_ref()
            .filter(|t| admin_token_problem(t.expose()).is_none())
    }

    /// Whether the admin API (and the console) is on: a usable `admin.token` or any named
    /// token.
    pub fn enabled(&self) -> bool {
        self.usable_token().is_some() || !self.tokens.is_empty()
    }
}

/// Why `token` cannot be the admin token, or `None` when it can. The message never
/// repeats the token.
pub fn admin_token_problem(token: &str) -> Option<String> {
    if token.is_empty() {
        return Some(format!(
            "is empty, which would open the admin API: set a token of at least \
             {MIN_ADMIN_TOKEN_CHARS} characters, or remove admin.token to turn the admin API off"
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Some(
            "must be visible ASCII characters only (no spaces or control characters), \
             as it is sent in an Authorization header"
                .into(),
        );
    }
    let n = token.chars().count();
    (n < MIN_ADMIN_TOKEN_CHARS).then(|| {
        format!("is {n} characters long; the admin token needs at least {MIN_ADMIN_TOKEN_CHARS}")
    })
}

/// `orange:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrangeConfig {
    /// Base URL of Orange's API gateway.
    #[serde(default = "defaults::orange_base_url")]
    pub base_url: url::Url,
    /// Path of the OAuth v3 token endpoint.
    #[serde(default = "defaults::token_path")]
    pub token_path: String,
    /// Base path of the Incident API 1.3.
    #[serde(default = "defaults::incident_path")]
    pub incident_path: String,
    /// Base path of the Wholesale Trouble Tickets API 1.0 (inferred; not public).
    #[serde(default = "defaults::trouble_ticket_path")]
    pub trouble_ticket_path: String,
    /// Base path of the Core Information API 2.4.
    #[serde(default = "defaults::core_information_path")]
    pub core_information_path: String,
    /// Base path of the Ordering API 3.1.
    #[serde(default = "defaults::ordering_path")]
    pub ordering_path: String,
    /// Timeout of one Orange call, in milliseconds.
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Token requests allowed per minute per credential (Orange allows 50).
    #[serde(default = "defaults::token_requests_per_minute")]
    pub token_requests_per_minute: u32,
    /// Seconds before `expires_in` at which a cached token is renewed.
    #[serde(default = "defaults::token_refresh_margin_secs")]
    pub token_refresh_margin_secs: u64,
    /// How long Core Information lookups are cached, in seconds.
    #[serde(default = "defaults::lookup_cache_secs")]
    pub lookup_cache_secs: u64,
    /// What the gateway assumes where Orange's docs are silent (docs/orange-assumptions.md).
    #[serde(default)]
    pub inferred: super::InferredConfig,
}

/// `delivery:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Run the dispatcher on this replica (off: events are only accepted and queued).
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// Calls (to Orange or the ITSM) in flight at once, per replica; recording their outcomes
    /// holds no slot.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Calls of one tenant in flight at once, per replica, so one tenant's burst or hanging
    /// endpoint leaves slots for the others; unset: a quarter of `concurrency`, at least 1
    /// (all of it when the gateway serves one tenant: there is nobody to leave room for).
    /// A tenant's due deliveries beyond it are put off, using no attempt. Unset, it is a
    /// share, not a cap: a tenant whose calls are the only ones in flight may use the slots
    /// the other tenants' shares leave over; set, it is a hard cap.
    #[serde(default)]
    pub per_tenant_concurrency: Option<usize>,
    /// Calls in all a lone tenant may have with the default share (see `for_tenants`).
    #[serde(skip)]
    pub lend: Option<usize>,
    /// How long a claimed delivery is leased before another worker may take it, in seconds.
    #[serde(default = "defaults::lease_secs")]
    pub lease_secs: u64,
    /// How often the store is asked for due work when idle, in milliseconds.
    #[serde(default = "defaults::idle_poll_ms")]
    pub idle_poll_ms: u64,
    /// Backoff and attempts.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Largest attachment copied from an ITSM to Orange, in bytes.
    #[serde(default = "defaults::max_attachment_bytes")]
    pub max_attachment_bytes: u64,
    /// Seconds a delivery waits (`waiting_link`) for its ticket's link to Orange before it
    /// becomes a dead letter `no-link`.
    #[serde(default = "defaults::link_wait_secs")]
    pub link_wait_secs: u64,
}

/// `poller:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollerConfig {
    /// Poll Orange for changes and write them back to the ITSMs.
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// Seconds between poll cycles of a tenant.
    #[serde(default = "defaults::poll_interval_secs")]
    pub interval_secs: u64,
    /// Page size of Orange list calls.
    #[serde(default = "defaults::page_size")]
    pub page_size: u32,
    /// Seconds between reconciliations of linked tickets (repairs missed webhooks); off when
    /// unset.
    #[serde(default)]
    pub reconcile_interval_secs: Option<u64>,
    /// How incidents and ordering requests are watched: `auto` (probe at start, after a
    /// failed scan and every `reprobe_secs` whether Orange honours `sort=-lastUpdateDate` and `lastUpdateDate>=`; scan
    /// incrementally only when it honours both, else re-read the open linked objects),
    /// `incremental` (always scan; no probe) or `reread` (always re-read).
    #[serde(default)]
    pub scan: ScanChoice,
    /// Linked objects re-read one by one per cycle and per API (one GET each, plus a notes
    /// read for an incident whose `lastUpdateDate` moved), least recently checked first: a
    /// change is seen within ceil(open links ÷ budget) cycles. Also bounds the Wholesale
    /// trouble tickets' per-object reads.
    #[serde(default = "defaults::reread_budget")]
    pub reread_budget: u32,
    /// With `scan: auto`, seconds between read-only re-probes of the sort and range filter
    /// even when nothing failed: a poller re-reading moves back to the incremental scan once
    /// Orange honours both, and a scanning one falls back when Orange stops honouring them.
    #[serde(default = "defaults::reprobe_secs")]
    pub reprobe_secs: u64,
}

/// `poller.scan`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanChoice {
    /// Probe Orange with read-only calls; scan incrementally only when sort and range filter
    /// are both honoured.
    #[default]
    Auto,
    /// Always scan by last update (trusts the sort and the range filter).
    Incremental,
    /// Always re-read the open linked objects, within `reread_budget` per cycle.
    Reread,
}

/// `log:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `auto` (pretty on a terminal, JSON otherwise), `json` or `pretty`.
    #[serde(default)]
    pub format: LogFormat,
    /// Filter in `RUST_LOG` syntax; `RUST_LOG` overrides it.
    #[serde(default = "defaults::log_level")]
    pub level: String,
}

/// `telemetry:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP collector (`/v1/traces` is appended); traces are sent only
    /// when it (or `OTEL_EXPORTER_OTLP_ENDPOINT`) is set.
    #[serde(default)]
    pub otlp_endpoint: Option<url::Url>,
    /// `service.name` of the traces.
    #[serde(default = "defaults::service_name")]
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: defaults::service_name(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Json,
    Pretty,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: defaults::store_url(),
            max_connections: defaults::max_connections(),
        }
    }
}
impl Default for IngressConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: defaults::max_body_bytes(),
            max_backlog: defaults::max_backlog(),
            retry_after_secs: defaults::retry_after_secs(),
        }
    }
}
impl Default for OrangeConfig {
    fn default() -> Self {
        Self {
            base_url: defaults::orange_base_url(),
            token_path: defaults::token_path(),
            incident_path: defaults::incident_path(),
            trouble_ticket_path: defaults::trouble_ticket_path(),
            core_information_path: defaults::core_information_path(),
            ordering_path: defaults::ordering_path(),
            timeout_ms: defaults::timeout_ms(),
            token_requests_per_minute: defaults::token_requests_per_minute(),
            token_refresh_margin_secs: defaults::token_refresh_margin_secs(),
            lookup_cache_secs: defaults::lookup_cache_secs(),
            inferred: Default::default(),
        }
    }
}
impl DeliveryConfig {
    /// This config as the dispatcher of a gateway serving `tenants` tenants uses it: with one
    /// tenant and no explicit `per_tenant_concurrency`, the tenant may use every slot.
    ///
    /// With several tenants and the default share, a tenant whose calls are the only ones in
    /// flight may borrow the slots the other tenants' shares leave over (`lend`), so they sit
    /// idle behind no busy tenant while each other tenant still finds its share free.
    pub fn for_tenants(&self, tenants: usize) -> Self {
        let mut c = self.clone();
        if c.per_tenant_concurrency.is_none() {
            if tenants <= 1 {
                c.per_tenant_concurrency = Some(c.concurrency.max(1));
            } else {
                let share = c.tenant_concurrency();
                c.lend = c
                    .concurrency
                    .max(1)
                    .checked_sub((tenants - 1) * share)
                    .filter(|l| *l > share);
            }
        }
        c
    }

    /// `per_tenant_concurrency`, or its default: a quarter of `concurrency`, at least 1; never
    /// more than `concurrency`.
    pub fn tenant_concurrency(&self) -> usize {
        let all = self.concurrency.max(1);
        self.per_tenant_concurrency.unwrap_or(all / 4).clamp(1, all)
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: defaults::concurrency(),
            per_tenant_concurrency: None,
            lend: None,
            lease_secs: defaults::lease_secs(),
            idle_poll_ms: defaults::idle_poll_ms(),
            retry: RetryPolicy::default(),
            max_attachment_bytes: defaults::max_attachment_bytes(),
            link_wait_secs: defaults::link_wait_secs(),
        }
    }
}
impl Default for PollerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: defaults::poll_interval_secs(),
            page_size: defaults::page_size(),
            reconcile_interval_secs: None,
            scan: ScanChoice::Auto,
            reread_budget: defaults::reread_budget(),
            reprobe_secs: defaults::reprobe_secs(),
        }
    }
}
impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: defaults::log_level(),
        }
    }
}
