//! The declarative mapping language: file model, compile (fail fast), apply (pure).
//!
//! A mapping file (YAML, `schemas/mapping.schema.json`, documented in `mappings/README.md`)
//! is validated and compiled once by [`MappingSet::load`]: paths split, templates parsed, jq
//! compiled, tables built, golden cases read. [`Mapping::apply`] is then a pure function of the
//! event: keys, routes whose `when` holds, and for each call its `set:` rules; every outbound
//! body is validated against `schemas/orange/*.json` before it is returned.
//!
//! Rooms: `path`/`template`/`transform`/`jq`/`rule`/`cond` are the pieces, `compile` builds a
//! [`Mapping`] from a file, `apply` runs one, `wayback` is the Orange → ITSM half, `golden`
//! runs the golden cases, `schemas` holds the embedded JSON Schemas, `reload` swaps a running
//! gateway's mappings one checked (tenant, source) entry at a time.

mod apply;
mod compile;
mod cond;
pub mod golden;
mod jq;
pub mod keys;
mod path;
pub mod rawnum;
pub mod reload;
mod rule;
pub mod schemas;
mod template;
mod transform;
pub mod wayback;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;

use crate::config::Config;
use crate::domain::{
    Disposition, EventId, NewDelivery, NewEvent, OrangeCall, SourceKind, SourceName, Target,
    TenantId, TicketKey, Timestamp,
};

pub use golden::GoldenCase;
pub use wayback::{NoteAs, NotePush, StatusRule, StepRule, WayBack};

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
    /// No route matched the event (`skipped` then says so).
    pub unrouted: bool,
    /// Names of the routes whose `when` held, in order (ticket timeline).
    pub routes: Vec<String>,
    /// The ticket's human number or key (ServiceNow `number`, Jira issue key), when known.
    pub number: Option<String>,
}

impl Mapped {
    /// The event to commit: the mapping's keys, its ticket, and each planned Orange call as a
    /// delivery of that ticket (so they queue behind the ticket's earlier ones). The ingress
    /// and ITSM-side reconciliation both commit through this, so a webhook and its rebuilt
    /// twin become the same event.
    pub fn into_event(
        self,
        tenant: &TenantId,
        source: &SourceName,
        body: bytes::Bytes,
        headers: Vec<(String, String)>,
        received_at: Timestamp,
    ) -> NewEvent {
        let ticket = TicketKey::new(tenant, source, self.ticket.as_deref().unwrap_or(""));
        let deliveries = Self::deliveries(self.calls, &ticket);
        NewEvent {
            id: EventId::new(),
            tenant: tenant.clone(),
            source: source.clone(),
            dedupe_key: self.dedupe_key,
            ticket,
            event_type: self.event_type,
            body,
            headers,
            received_at,
            deliveries,
            disposition: Disposition {
                skipped: self.skipped.clone(),
                unrouted: self.unrouted,
                parked: None,
            },
            ticket_number: self.number,
            routing: crate::domain::Routing {
                routes: self.routes,
                skipped: self.skipped,
            },
        }
    }

    /// Each planned Orange call as a delivery of `ticket`, in order (so they queue behind the
    /// ticket's earlier ones).
    pub fn deliveries(calls: Vec<OrangeCall>, ticket: &TicketKey) -> Vec<NewDelivery> {
        calls
            .into_iter()
            .map(|c| NewDelivery {
                ticket: ticket.clone(),
                target: Target::Orange(c),
            })
            .collect()
    }
}

/// Why an event cannot be mapped: the event is parked with this (rule and pointer kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {message} (at {pointer})")]
pub struct MapError {
    /// JSON pointer in the event that failed (`/issue/fields/priority/name`); empty when the
    /// rule reads no single path (a template, a jq program).
    pub pointer: String,
    /// The rule of the mapping that failed (`routes[0].then[0].set.priority`).
    pub rule: String,
    pub message: String,
    /// A rule failed, or the call it rendered breaks Orange's request schema.
    pub cause: MapCause,
}

/// What kind of failure a [`MapError`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MapCause {
    /// A rule could not compute its value (missing path, value not in a table, …).
    #[default]
    Rule,
    /// Every rule worked, but the rendered call breaks Orange's request schema.
    OrangeSchema,
}

/// What a mapping does with an event that matches no route (top-level `unrouted:`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unrouted {
    /// Keep it as unrouted: counted and listed, nothing sent.
    #[default]
    Skip,
    /// Park it (reason `unrouted`), replayable once a route for it exists.
    Park,
}

/// The event types one route can match, for `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEvents {
    pub route: String,
    /// Event type globs; empty = any event type.
    pub events: Vec<String>,
    /// The route skips what it matches (`skip:`) rather than calling Orange.
    pub skips: bool,
}

/// What rules read: the event body plus its keys and headers.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'v> {
    pub body: &'v Value,
    pub event_type: &'v str,
    pub ticket: Option<&'v str>,
    pub headers: Option<&'v HeaderMap>,
    /// The body as received, where numbers keep their exact text (`rawnum.rs`).
    pub raw: Option<&'v [u8]>,
}

impl<'v> Scope<'v> {
    /// A scope over a bare value (the way back renders templates over Orange objects).
    pub fn of_value(body: &'v Value) -> Scope<'v> {
        Scope {
            body,
            event_type: "",
            ticket: None,
            headers: None,
            raw: None,
        }
    }
}

/// One compiled mapping file.
#[derive(Debug)]
pub struct Mapping {
    /// The file, as named in problems and errors (`demo/jira-incident.yaml`).
    pub name: String,
    pub kind: SourceKind,
    keys: apply::KeyRules,
    routes: Vec<apply::Route>,
    unrouted: Unrouted,
    way_back: WayBack,
    golden: Vec<GoldenCase>,
}

impl Mapping {
    /// Reads, validates and compiles one mapping file. `name` is how problems name it.
    pub fn from_file(file: &Path, name: &str) -> Result<Mapping, Vec<MappingProblem>> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            vec![MappingProblem {
                file: name.to_owned(),
                at: "-".into(),
                message: format!("cannot read {}: {e}", file.display()),
            }]
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        compile::compile(&text, name, base)
    }

    /// Compiles mapping text; golden event files are read relative to `base`.
    pub fn from_str(text: &str, name: &str, base: &Path) -> Result<Mapping, Vec<MappingProblem>> {
        compile::compile(text, name, base)
    }

    /// Applies the mapping to an event. Pure.
    pub fn apply(&self, incoming: &Incoming<'_>) -> Result<Mapped, MapError> {
        apply::apply(self, incoming)
    }

    /// The keys of an event (dedupe, ticket, type) as this mapping computes them, without its
    /// routes: what a parked event is stored under. A `keys:` rule that fails falls back to
    /// the default key it overrides.
    pub fn keys(&self, incoming: &Incoming<'_>) -> keys::EventKeys {
        apply::keys_of(self, incoming)
    }

    /// What this mapping does with an event that matches no route.
    pub fn unrouted(&self) -> Unrouted {
        self.unrouted
    }

    /// The event types each route can match, in route order.
    pub fn route_events(&self) -> Vec<RouteEvents> {
        self.routes
            .iter()
            .map(|r| RouteEvents {
                route: r.name.clone(),
                events: r.when.events.clone(),
                skips: r.skip.is_some(),
            })
            .collect()
    }

    /// The Orange → ITSM half, for the poller.
    pub fn way_back(&self) -> &WayBack {
        &self.way_back
    }

    /// The golden cases of this file.
    pub fn golden(&self) -> &[GoldenCase] {
        &self.golden
    }

    /// Runs every golden case; one problem per failing case.
    pub fn run_golden(&self) -> Vec<MappingProblem> {
        golden::run_all(self)
    }
}

/// A problem in a mapping file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingProblem {
    pub file: String,
    /// `line:col` for YAML syntax errors, else the place in the file
    /// (`routes[1].then[0].set.priority`).
    pub at: String,
    pub message: String,
}

impl MappingProblem {
    /// `mapping` (file `file`) is for another kind of source than tenant `tenant`'s `source`.
    pub fn kind_mismatch(
        file: String,
        mapping: &Mapping,
        tenant: &TenantId,
        source: &SourceName,
        kind: SourceKind,
    ) -> Self {
        Self {
            file,
            at: "source".into(),
            message: format!(
                "the mapping is for `{}` but tenant `{}` source `{}` is `{}`",
                mapping.kind.as_str(),
                tenant.as_str(),
                source.as_str(),
                kind.as_str()
            ),
        }
    }
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
    /// Loads and compiles every mapping the config names; all problems at once. A file used
    /// by several sources is compiled once.
    pub fn load(config: &Config) -> Result<MappingSet, Vec<MappingProblem>> {
        let mut set = MappingSet::default();
        let mut problems = Vec::new();
        let mut compiled: HashMap<std::path::PathBuf, Option<Arc<Mapping>>> = HashMap::new();
        for t in &config.tenants {
            for (name, s) in &t.sources {
                let file = config.mappings_dir.join(&s.mapping);
                let shown = s.mapping.display().to_string();
                let entry =
                    compiled.entry(file.clone()).or_insert_with(|| {
                        match Mapping::from_file(&file, &shown) {
                            Ok(m) => Some(Arc::new(m)),
                            Err(p) => {
                                problems.extend(p);
                                None
                            }
                        }
                    });
                let Some(m) = entry.clone() else { continue };
                if let Some(kind) = s.kind_for(name)
                    && kind != m.kind
                {
                    problems.push(MappingProblem::kind_mismatch(shown, &m, &t.id, name, kind));
                    continue;
                }
                set.by_source.insert((t.id.clone(), name.clone()), m);
            }
        }
        if problems.is_empty() {
            Ok(set)
        } else {
            Err(problems)
        }
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

    /// Every distinct compiled mapping (for `check`'s golden run).
    pub fn mappings(&self) -> Vec<Arc<Mapping>> {
        let mut seen: Vec<Arc<Mapping>> = Vec::new();
        for m in self.by_source.values() {
            if !seen.iter().any(|s| Arc::ptr_eq(s, m)) {
                seen.push(m.clone());
            }
        }
        seen.sort_by(|a, b| a.name.cmp(&b.name));
        seen
    }
}

/// The mappings in force, swapped whole on reload; readers never see a half-loaded set.
#[derive(Debug, Default)]
pub struct LiveMappings {
    current: std::sync::RwLock<Arc<MappingSet>>,
    /// What each entry serves and what the last reloads did; also serialises reloads (the
    /// file watch and the admin API may ask at once).
    status: std::sync::Mutex<reload::ReloadStatus>,
}

impl LiveMappings {
    pub fn new(set: MappingSet) -> Self {
        Self {
            current: std::sync::RwLock::new(Arc::new(set)),
            status: std::sync::Mutex::default(),
        }
    }

    /// Loads every mapping the config names (compiled; golden cases are `check`'s at startup);
    /// any problem is an error, since nothing could serve in a refused file's place.
    pub fn load_checked(config: &Config) -> Result<LiveMappings, Vec<MappingProblem>> {
        let live = LiveMappings::default();
        let report = live.reload_checked(config, reload::Trigger::Startup);
        if report.count(reload::ReloadResult::Refused) > 0 {
            return Err(report.problems().into_iter().map(Into::into).collect());
        }
        Ok(live)
    }

    /// The set in force now.
    pub fn current(&self) -> Arc<MappingSet> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Loads the mappings again, entry by entry: each file is compiled and its golden cases
    /// run; a refused file leaves its entries on their last good version, the other entries
    /// take their changes. The set is swapped only when something was applied.
    pub fn reload_checked(
        &self,
        config: &Config,
        trigger: reload::Trigger,
    ) -> reload::ReloadReport {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let previous = self.current();
        let now = time::OffsetDateTime::now_utc();
        let (set, report) = reload::pass(config, &previous, &mut status, trigger, now);
        let changed =
            report.count(reload::ReloadResult::Applied) > 0 || set.len() != previous.len();
        if changed {
            *self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        }
        report
    }

    /// Loads the mappings again (see [`Self::reload_checked`]); `Err` with every problem when
    /// any file was refused (its entries keep their last good version, the others reload).
    pub fn reload(&self, config: &Config) -> Result<(), Vec<MappingProblem>> {
        let report = self.reload_checked(config, reload::Trigger::Admin);
        let problems = report.problems();
        if problems.is_empty() {
            return Ok(());
        }
        Err(problems.into_iter().map(Into::into).collect())
    }

    /// Every entry's state and the last reload's report.
    pub fn status(&self) -> reload::ReloadStatus {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
