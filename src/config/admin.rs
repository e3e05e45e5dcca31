//! `admin.tokens`: named tokens of the admin API and the console, each with a role (`viewer`
//! reads, `operator` also replays, discards, links and reloads) and the tenants it sees
//! (`"*"` for all). `admin.token`, when set, is the operator of every tenant named `admin`.

use std::collections::HashSet;

use serde::{Deserialize, Deserializer};

use super::{Secret, admin_token_problem};
use crate::domain::TenantId;

/// The name audit entries give the holder of `admin.token`; no named token may take it.
pub const ADMIN_TOKEN_NAME: &str = "admin";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads only (`GET`).
    #[default]
    Viewer,
    /// Reads, and acts: replay, discard, link, reload.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

/// The tenants a token sees: all (`"*"`) or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    All,
    Only(Vec<String>),
}

impl<'de> Deserialize<'de> for TenantScope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Star(String),
            List(Vec<String>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("tenants must be \"*\" or a list of tenant ids")
        })? {
            Raw::Star(s) if s == "*" => Ok(TenantScope::All),
            Raw::Star(s) => Err(serde::de::Error::custom(format!(
                "tenants must be \"*\" or a list of tenant ids, not the string {s:?}"
            ))),
            Raw::List(l) => Ok(TenantScope::Only(l)),
        }
    }
}

/// One entry of `admin.tokens`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedToken {
    /// Who holds the token: shown in the console and recorded in the audit log.
    pub name: String,
    /// The bearer token (at least 16 visible ASCII characters, like `admin.token`).
    pub token: Secret,
    /// The tenants the token sees and acts on: `"*"` or a list of tenant ids.
    pub tenants: TenantScope,
    /// `viewer` (default) or `operator`.
    #[serde(default)]
    pub role: Role,
}

impl NamedToken {
    /// The scope as parsed tenant ids (`None`: every tenant). Ids that do not parse are
    /// reported by [`check_tokens`] and left out here.
    pub fn tenant_ids(&self) -> Option<Vec<TenantId>> {
        match &self.tenants {
            TenantScope::All => None,
            TenantScope::Only(l) => Some(
                l.iter()
                    .filter_map(|t| TenantId::parse(t.as_str()).ok())
                    .collect(),
            ),
        }
    }
}

/// Problems of `admin.tokens`, as `(path, message)`: names empty, repeated or `admin`,
/// tokens short or shared (with another entry or `admin.token`), tenants unknown or none.
/// `tenants` is `None` when the tenants are not all known here (they come and go with the
/// files of `tenants_dir`): a token may then name a tenant not onboarded yet.
/// Messages never repeat a token.
pub fn check_tokens(
    admin_token: Option<&Secret>,
    tokens: &[NamedToken],
    tenants: Option<&HashSet<&str>>,
) -> Vec<(String, String)> {
    let mut p = Vec::new();
    let mut names = HashSet::new();
    let mut seen: Vec<&str> = admin_token.map(Secret::expose).into_iter().collect();
    for (i, t) in tokens.iter().enumerate() {
        let at = format!("admin.tokens[{i}]");
        let name = t.name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            p.push((
                format!("{at}.name"),
                "must be 1 to 64 characters without control characters".into(),
            ));
        } else if name == ADMIN_TOKEN_NAME {
            p.push((
                format!("{at}.name"),
                format!("{ADMIN_TOKEN_NAME:?} is the name of admin.token; choose another"),
            ));
        } else if !names.insert(name) {
            p.push((format!("{at}.name"), format!("{name:?} is used twice")));
        }
        if let Some(m) = admin_token_problem(t.token.expose()) {
            p.push((format!("{at}.token"), m.replace("admin token", "token")));
        } else if seen.contains(&t.token.expose()) {
            p.push((
                format!("{at}.token"),
                "is the same as another token; every holder needs a token of its own".into(),
            ));
        } else {
            seen.push(t.token.expose());
        }
        if let TenantScope::Only(list) = &t.tenants {
            if list.is_empty() {
                p.push((
                    format!("{at}.tenants"),
                    "is empty: list the tenants the token sees, or \"*\" for all".into(),
                ));
            }
            for (j, id) in list.iter().enumerate() {
                if tenants.is_some_and(|ts| !ts.contains(id.as_str())) {
                    p.push((
                        format!("{at}.tenants[{j}]"),
                        format!("{id:?} is not a tenant of this config"),
                    ));
                }
            }
        }
    }
    p
}
