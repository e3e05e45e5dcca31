//! The tenant's poll watermarks, one per Orange API, as stored under the lease name.

use std::collections::BTreeMap;

use super::Changed;
use crate::domain::{OrangeApi, Timestamp};

/// The tenant's watermarks, one per Orange API, stored as
/// `{"incident":{"at":"2026-…","ids":["INC1"]}}`: the largest `lastUpdateDate` committed and
/// the objects committed at exactly that instant, so the next scan (which lists from `at`
/// inclusive, to miss nothing sharing the instant) skips them instead of re-reading them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Watermarks(BTreeMap<String, Mark>);

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    pub at: String,
    #[serde(default)]
    pub ids: Vec<String>,
}

impl Watermarks {
    /// Reads the stored form; anything unreadable starts over (a full scan, which the diff
    /// makes harmless).
    pub fn parse(stored: Option<&str>) -> Self {
        let map = stored
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        Self(map)
    }
    /// The instant the next scan of `api` starts from.
    pub fn get(&self, api: OrangeApi) -> Option<&str> {
        self.0.get(api.as_str()).map(|m| m.at.as_str())
    }
    /// True when `c` was committed already (it sits exactly on the mark).
    pub(super) fn covers(&self, api: OrangeApi, c: &Changed) -> bool {
        self.0
            .get(api.as_str())
            .is_some_and(|m| m.at == c.last_update && m.ids.contains(&c.id))
    }
    pub(super) fn raise(&mut self, api: OrangeApi, c: &Changed) {
        let m = self.0.entry(api.as_str().to_owned()).or_default();
        if m.at.is_empty() || is_before(&m.at, &c.last_update) {
            m.at = c.last_update.clone();
            m.ids = vec![c.id.clone()];
        } else if m.at == c.last_update && !m.ids.contains(&c.id) {
            m.ids.push(c.id.clone());
        }
    }
}

impl std::fmt::Display for Watermarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(&self.0).map_err(|_| std::fmt::Error)?)
    }
}

/// `a < b` as instants when both are RFC 3339, else as strings.
pub fn is_before(a: &str, b: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    match (Timestamp::parse(a, &Rfc3339), Timestamp::parse(b, &Rfc3339)) {
        (Ok(x), Ok(y)) => x < y,
        _ => a < b,
    }
}
