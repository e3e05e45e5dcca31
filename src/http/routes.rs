//! The ingress's view of the config, compiled once: which (tenant, source) pairs exist and how
//! each authenticates. (Back-pressure is the intake's: `crate::intake::Backlog`.)

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::{IngressConfig, TenantConfig, WebhookAuth};
use crate::domain::{SourceKind, SourceName, TenantId};

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
    pub retry_after_secs: u64,
}

impl Routes {
    /// The routes of `tenants`' sources, with the ingress limits.
    pub fn new(tenants: &[TenantConfig], ingress: &IngressConfig) -> Self {
        let mut by_source = HashMap::new();
        for t in tenants {
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
            tenants: tenants.iter().map(|t| t.id.clone()).collect(),
            by_source,
            max_body_bytes: ingress.max_body_bytes,
            retry_after_secs: ingress.retry_after_secs,
        }
    }

    pub fn has_tenant(&self, t: &TenantId) -> bool {
        self.tenants.contains(t)
    }
    pub fn get(&self, t: &TenantId, s: &SourceName) -> Option<Arc<SourceRoute>> {
        self.by_source.get(&(t.clone(), s.clone())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schemas_compile_and_default_routes_exist() {
        let config = crate::config::Config::embedded_default();
        let routes = Routes::new(&config.tenants, &config.ingress);
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
