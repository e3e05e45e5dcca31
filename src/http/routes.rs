//! The ingress's view of the config, compiled once: which (tenant, source) pairs exist, how
//! each authenticates, the event schemas, and the back-pressure gauge.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use axum::http::StatusCode;

use super::problem::{Problem, codes};
use crate::config::{Config, WebhookAuth};
use crate::domain::{SourceKind, SourceName, TenantId};
use crate::store::Store;

/// One webhook source of one tenant.
#[derive(Debug)]
pub struct SourceRoute {
    pub tenant: TenantId,
    pub source: SourceName,
    pub kind: SourceKind,
    pub auth: Vec<WebhookAuth>,
    /// Configured signature headers, never stored with events.
    pub secret_headers: Vec<String>,
    /// The ITSM user the gateway writes back as: its changes are echoes.
    pub integration_user: Option<String>,
}

/// Everything the ingress needs from the config.
pub struct Routes {
    tenants: HashSet<TenantId>,
    by_source: HashMap<(TenantId, SourceName), Arc<SourceRoute>>,
    pub max_body_bytes: usize,
    pub max_backlog: u64,
    pub retry_after_secs: u64,
}

impl Routes {
    pub fn new(config: &Config) -> Self {
        let mut by_source = HashMap::new();
        for t in &config.tenants {
            for (name, s) in &t.sources {
                // `validate()` guarantees a kind; a source without one is unreachable.
                let Some(kind) = s.kind_for(name) else {
                    continue;
                };
                let integration_user = match kind {
                    SourceKind::Servicenow => t
                        .itsm
                        .servicenow
                        .as_ref()
                        .and_then(|x| x.integration_user.clone()),
                    SourceKind::Jira => t
                        .itsm
                        .jira
                        .as_ref()
                        .and_then(|x| x.integration_account.clone()),
                    SourceKind::Generic => None,
                };
                let secret_headers = s
                    .auth
                    .iter()
                    .filter_map(|a| match a {
                        WebhookAuth::Hmac { header, .. } => Some(header.to_ascii_lowercase()),
                        _ => None,
                    })
                    .collect();
                by_source.insert(
                    (t.id.clone(), name.clone()),
                    Arc::new(SourceRoute {
                        tenant: t.id.clone(),
                        source: name.clone(),
                        kind,
                        auth: s.auth.clone(),
                        secret_headers,
                        integration_user,
                    }),
                );
            }
        }
        Self {
            tenants: config.tenants.iter().map(|t| t.id.clone()).collect(),
            by_source,
            max_body_bytes: config.ingress.max_body_bytes,
            max_backlog: config.ingress.max_backlog,
            retry_after_secs: config.ingress.retry_after_secs,
        }
    }

    pub fn has_tenant(&self, t: &TenantId) -> bool {
        self.tenants.contains(t)
    }
    pub fn get(&self, t: &TenantId, s: &SourceName) -> Option<Arc<SourceRoute>> {
        self.by_source.get(&(t.clone(), s.clone())).cloned()
    }
}

/// Pending deliveries, sampled from the store at most once a second so the hot path never
/// waits on a count.
#[derive(Default)]
pub struct Backlog {
    pending: AtomicU64,
    sampled_at_ms: AtomicI64,
    sampling: AtomicBool,
}

impl Backlog {
    /// Refuses with 429 when the backlog is over `max`; starts a new sample when due.
    pub fn check(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        max: u64,
        retry_after: u64,
    ) -> Result<(), Problem> {
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        if now_ms - self.sampled_at_ms.load(Ordering::Relaxed) > 1_000
            && !self.sampling.swap(true, Ordering::AcqRel)
        {
            let (me, store) = (self.clone(), store.clone());
            tokio::spawn(async move {
                if let Ok(stats) = store.queue_stats().await {
                    me.pending
                        .store(stats.pending + stats.in_flight, Ordering::Relaxed);
                    metrics::gauge!("itsm_bridge_queue_depth", "state" => "pending")
                        .set(stats.pending as f64);
                    metrics::gauge!("itsm_bridge_queue_depth", "state" => "in_flight")
                        .set(stats.in_flight as f64);
                    metrics::gauge!("itsm_bridge_dead_letters").set(stats.dead as f64);
                }
                me.sampled_at_ms.store(now_ms, Ordering::Relaxed);
                me.sampling.store(false, Ordering::Release);
            });
        }
        let pending = self.pending.load(Ordering::Relaxed);
        if pending > max {
            metrics::counter!("itsm_bridge_webhooks_rejected_total", "reason" => "backlog_full")
                .increment(1);
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::BACKLOG_FULL,
                "The gateway's backlog is full",
            )
            .detail(format!(
                "{pending} deliveries are waiting (limit {max}); send the event again later"
            ))
            .retry_after(retry_after));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schemas_compile_and_default_routes_exist() {
        let routes = Routes::new(&Config::embedded_default());
        let demo = TenantId::parse("demo").unwrap();
        assert!(routes.has_tenant(&demo));
        assert!(
            routes
                .get(&demo, &SourceName::parse("jira").unwrap())
                .is_some()
        );
        let r = routes
            .get(&demo, &SourceName::parse("servicenow").unwrap())
            .unwrap();
        assert_eq!(r.secret_headers, vec!["x-signature".to_owned()]);
    }
}
