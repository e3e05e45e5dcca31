//! The declarative mapping language: file model, compile (fail fast), apply (pure).
//!
//! NOTE: this is the door the rest of the crate uses; the language itself lands with the
//! mapping issue. Until then `apply` plans no calls and only computes the default keys.

pub mod keys;

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;

use crate::config::Config;
use crate::domain::{OrangeCall, SourceKind, SourceName, TenantId};

/// An event as a mapping sees it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub kind: SourceKind,
    pub headers: &'a HeaderMap,
    pub body: &'a Value,
    /// The raw body, for hashing.
    pub raw: &'a [u8],
}

/// What a mapping made of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub dedupe_key: String,
    /// The ITSM ticket id; `None` when the event is about no ticket.
    pub ticket: Option<String>,
    pub event_type: String,
    /// Calls to make, in order; empty when no route matched.
    pub calls: Vec<OrangeCall>,
    /// Why nothing is sent, when `calls` is empty.
    pub skipped: Option<String>,
}

/// Why an event cannot be mapped: the ITSM is answered 422 with this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {message} (at {pointer})")]
pub struct MapError {
    /// JSON pointer in the event that failed (`/issue/fields/priority/name`).
    pub pointer: String,
    /// The rule of the mapping that failed (`routes[0].set.priority`).
    pub rule: String,
    pub message: String,
}

/// One compiled mapping file.
#[derive(Debug)]
pub struct Mapping {
    pub name: String,
}

impl Mapping {
    /// Applies the mapping to an event. Pure.
    pub fn apply(&self, incoming: &Incoming<'_>) -> Result<Mapped, MapError> {
        let k = keys::default_keys(incoming.kind, incoming.headers, incoming.body, incoming.raw);
        Ok(Mapped {
            dedupe_key: k.dedupe,
            ticket: k.ticket,
            event_type: k.event_type,
            calls: Vec::new(),
            skipped: Some("mapping language not implemented yet".into()),
        })
    }
}

/// A problem in a mapping file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingProblem {
    pub file: String,
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for MappingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.at, self.message)
    }
}

/// Every tenant's compiled mappings, by (tenant, source).
#[derive(Debug, Default)]
pub struct MappingSet {
    by_source: HashMap<(TenantId, SourceName), Arc<Mapping>>,
}

impl MappingSet {
    /// Loads and compiles every mapping the config names; all problems at once.
    pub fn load(config: &Config) -> Result<MappingSet, Vec<MappingProblem>> {
        let mut set = MappingSet::default();
        for t in &config.tenants {
            for (name, s) in &t.sources {
                set.by_source.insert(
                    (t.id.clone(), name.clone()),
                    Arc::new(Mapping {
                        name: s.mapping.display().to_string(),
                    }),
                );
            }
        }
        Ok(set)
    }

    pub fn get(&self, tenant: &TenantId, source: &SourceName) -> Option<Arc<Mapping>> {
        self.by_source
            .get(&(tenant.clone(), source.clone()))
            .cloned()
    }

    /// How many (tenant, source) mappings are loaded.
    pub fn len(&self) -> usize {
        self.by_source.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }
}

/// The mappings in force, swapped whole on reload; readers never see a half-loaded set.
#[derive(Debug, Default)]
pub struct LiveMappings {
    current: std::sync::RwLock<Arc<MappingSet>>,
}

impl LiveMappings {
    pub fn new(set: MappingSet) -> Self {
        Self {
            current: std::sync::RwLock::new(Arc::new(set)),
        }
    }
    /// The set in force now.
    pub fn current(&self) -> Arc<MappingSet> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    /// Loads the mappings again; on any problem the set in force keeps serving.
    pub fn reload(&self, config: &Config) -> Result<(), Vec<MappingProblem>> {
        let set = MappingSet::load(config)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        Ok(())
    }
}
