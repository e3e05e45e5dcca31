//! The config of a gateway whose Orange is the simulator: one tenant, `acme`, on the
//! simulator's sandbox credentials, the test admin token, deliveries polled every 50 ms.

use super::repo;

/// The config's YAML, its store at `store_url`; `poller` is the poller's YAML map and
/// `sources_and_itsm` the rest of the tenant (its `sources:` entries, then `itsm:`, indented
/// for the tenant's list item).
pub fn acme_yaml(sim: &str, store_url: &str, poller: &str, sources_and_itsm: &str) -> String {
    format!(
        r#"
store: {{ url: "{store_url}" }}
mappings_dir: {mappings}
reload_interval_secs: 0
admin: {{ token: test-admin-token }}
orange: {{ base_url: "{sim}" }}
delivery: {{ idle_poll_ms: 50 }}
poller: {poller}
tenants:
  - id: acme
    orange: {{ client_id: sandbox, client_secret: sandbox-secret, api_key: sandbox-api-key }}
    sources:
{sources_and_itsm}"#,
        mappings = repo().join("mappings").display(),
    )
}
