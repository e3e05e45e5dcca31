//! The config of one customer (`tenants[]`, or a file of `tenants_dir`): its Orange
//! credentials, its webhook sources and its ITSM write-back targets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{Secret, defaults};
use crate::domain::{SourceKind, SourceName, TenantId};

/// One customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant id, as in `/webhooks/{tenant}/…`.
    pub id: TenantId,
    /// `Accept-Language` sent to Orange (`fr` for French labels).
    #[serde(default)]
    pub accept_language: Option<String>,
    /// The tenant's Orange credentials and rate budget.
    pub orange: OrangeCredentials,
    /// Webhook sources, by name (the `{source}` of the URL).
    #[serde(default)]
    pub sources: BTreeMap<SourceName, SourceConfig>,
    /// Write-back targets.
    #[serde(default)]
    pub itsm: ItsmConfig,
}

/// `tenants[].orange:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrangeCredentials {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
    /// `X-Api-Key` given by Orange Business.
    pub api_key: Secret,
    /// Wholesale Trouble Tickets `ApplicationID` (sent as the `X-Application-Id` header;
    /// the transport is not public).
    #[serde(default)]
    pub application_id: Option<String>,
    /// Overrides `orange.base_url` for this tenant.
    #[serde(default)]
    pub base_url: Option<url::Url>,
    /// Outbound budget of this credential, summed over all replicas.
    #[serde(default)]
    pub rate_limit: RateLimit,
}

/// A token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed in a burst above the sustained rate.
    #[serde(default = "defaults::burst")]
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 10,
            burst: defaults::burst(),
        }
    }
}

/// `tenants[].sources.NAME:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `servicenow`, `jira` or `generic`; defaults to the source's name when it is one.
    #[serde(default)]
    pub kind: Option<SourceKind>,
    /// Accepted ways to authenticate; a request passes when one of them matches.
    pub auth: Vec<WebhookAuth>,
    /// Mapping file, relative to `mappings_dir`.
    pub mapping: PathBuf,
    /// ITSM-side reconciliation: periodically ask the ITSM for tickets updated since a
    /// watermark and ingest what its webhooks missed (Jira Data Center does not retry; a
    /// ServiceNow business rule has no retries at all). Off when absent. Jira and ServiceNow
    /// sources; reads with the tenant's `itsm.jira` / `itsm.servicenow` credentials.
    #[serde(default)]
    pub reconcile: Option<SourceReconcile>,
}

/// `tenants[].sources.NAME.reconcile:`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceReconcile {
    /// Seconds between reconciliations of this source.
    #[serde(default = "defaults::reconcile_interval_secs")]
    pub interval_secs: u64,
    /// Tickets per ITSM search page (Jira Data Center allows up to 1000; ServiceNow's
    /// `sysparm_limit`).
    #[serde(default = "defaults::reconcile_page_size")]
    pub page_size: u32,
    /// How far back the first reconciliation looks, in seconds; later ones start at the
    /// stored watermark (the newest `updated` / `sys_updated_on` read).
    #[serde(default = "defaults::reconcile_lookback_secs")]
    pub lookback_secs: u64,
    /// Seconds re-read before the watermark, for clock skew and changes committed late.
    #[serde(default = "defaults::reconcile_overlap_secs")]
    pub overlap_secs: u64,
}

impl SourceConfig {
    /// The kind, from `kind:` or the source name.
    pub fn kind_for(&self, name: &SourceName) -> Option<SourceKind> {
        self.kind.or(match name.as_str() {
            "servicenow" => Some(SourceKind::Servicenow),
            "jira" => Some(SourceKind::Jira),
            "generic" => Some(SourceKind::Generic),
            _ => None,
        })
    }
}

/// How a webhook proves it comes from the tenant's ITSM.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WebhookAuth {
    /// Jira: `X-Hub-Signature: sha256=<hex>` HMAC of the raw body.
    HubSignature { secret: Secret },
    /// `Authorization: Basic …`.
    Basic { username: String, password: Secret },
    /// `Authorization: Bearer …`.
    Bearer { token: Secret },
    /// HMAC-SHA256 of the raw body in a header, Base64 (ServiceNow
    /// `GlideCertificateEncryption.generateMac`) or hex.
    Hmac {
        header: String,
        secret: Secret,
        #[serde(default)]
        encoding: HmacEncoding,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacEncoding {
    #[default]
    Base64,
    Hex,
}

/// `tenants[].itsm:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItsmConfig {
    /// ServiceNow Table API write-back.
    #[serde(default)]
    pub servicenow: Option<ServicenowTarget>,
    /// Jira REST write-back.
    #[serde(default)]
    pub jira: Option<JiraTarget>,
}

/// Credentials the gateway uses to call an ITSM.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutboundAuth {
    /// Basic (ServiceNow user; Jira Cloud email + API token).
    Basic { username: String, password: Secret },
    /// Bearer (ServiceNow OAuth token; Jira Data Center personal access token).
    Bearer { token: Secret },
}

/// `tenants[].itsm.servicenow:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicenowTarget {
    /// Instance URL (`https://acme.service-now.com`).
    pub base_url: url::Url,
    pub auth: OutboundAuth,
    /// The integration user: webhooks caused by its updates are echoes.
    #[serde(default)]
    pub integration_user: Option<String>,
    #[serde(default)]
    pub rate_limit: RateLimit,
}

/// `tenants[].itsm.jira:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraTarget {
    /// Site URL (`https://acme.atlassian.net` or the Data Center base).
    pub base_url: url::Url,
    /// REST version: 2 (wiki text; Data Center) or 3 (ADF; Cloud).
    #[serde(default = "defaults::jira_api_version")]
    pub api_version: u8,
    /// Cloud or Data Center, for what differs beyond the REST version: the search that
    /// reconciliation pages through (Cloud: `/search/jql` with `nextPageToken`; Data Center:
    /// `/search` with `startAt`).
    #[serde(default)]
    pub deployment: JiraDeployment,
    pub auth: OutboundAuth,
    /// The integration account (Cloud accountId or DC username): its changes are echoes.
    #[serde(default)]
    pub integration_account: Option<String>,
    #[serde(default)]
    pub rate_limit: RateLimit,
}

/// `tenants[].itsm.jira.deployment`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JiraDeployment {
    /// Cloud when the site is on Atlassian's domains (`*.atlassian.net`, `*.jira.com`), else
    /// Data Center.
    #[default]
    Auto,
    Cloud,
    DataCenter,
}

impl JiraTarget {
    /// Whether the site is Jira Cloud ([`JiraDeployment`]).
    pub fn is_cloud(&self) -> bool {
        match self.deployment {
            JiraDeployment::Cloud => true,
            JiraDeployment::DataCenter => false,
            JiraDeployment::Auto => self
                .base_url
                .host_str()
                .is_some_and(|h| h.ends_with(".atlassian.net") || h.ends_with(".jira.com")),
        }
    }
}
