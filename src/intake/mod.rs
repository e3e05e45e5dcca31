//! Intake: the one step every entry point takes after its own authentication — webhooks
//! (`http::ingress`), ITSM reconciliation (`worker::reconcile`) and replays of parked events
//! (`ops::events`). Echo check, event schema, mapping, backlog, store; one outcome type.
//!
//! Its own room, not part of `http` or `worker`: both drivers need it and may not import each
//! other, and it is the data path, not an operator's action (`ops`). It sees `domain`,
//! `mapping` and `store` only.
//!
//! An event the tenant's mapping cannot handle (it breaks the event schema, a rule fails, the
//! rendered call breaks Orange's request schema, or it matches no route under
//! `unrouted: park`) is **parked**: committed like any other, with its reason, failing rule
//! and JSON pointer, and no deliveries. The ITSM treats a 4xx as final, so refusing it would
//! lose it; parked, it is counted, listed and replayed with the current mapping once that is
//! fixed ([`Intake::replay`]). Dedupe applies to parked events as to any other.

mod backlog;

use std::sync::Arc;
use tracing::Instrument;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub use backlog::Backlog;

use crate::domain::echo::echo_check;
use crate::domain::{
    Disposition, EventId, IngestOutcome, ParkReason, Parked, SourceKind, SourceName, StoredEvent,
    TenantId, TicketKey, Timestamp,
};
use crate::mapping::{Incoming, LiveMappings, MapCause, MapError, Mapped, Mapping, Unrouted};
use crate::store::{Store, StoreError};

/// Most characters of an event type used as a metric label (the ITSM names its events).
const MAX_LABEL: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The source's mapping is not loaded (a transient state: the sender should retry).
    #[error("no mapping is loaded for {tenant}/{name}")]
    NoMapping { tenant: TenantId, name: SourceName },
    /// Too many deliveries are waiting; the sender should retry later.
    #[error("{pending} deliveries are waiting (limit {max})")]
    BacklogFull { pending: u64, max: u64 },
    /// A stored event cannot be read back as JSON (a manual edit or a bug).
    #[error("event {0}: the stored body is not JSON: {1}")]
    Corrupt(EventId, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One event to take in, as its entry point received (or rebuilt) it.
#[derive(Debug)]
pub struct Submission<'a> {
    pub tenant: &'a TenantId,
    pub source: &'a SourceName,
    pub kind: SourceKind,
    /// The ITSM account the gateway writes back as: its changes are echoes.
    pub integration_user: Option<&'a str>,
    /// The headers as the mapping reads them.
    pub headers: &'a HeaderMap,
    /// The headers kept with the event (never credentials or signatures).
    pub kept_headers: Vec<(String, String)>,
    pub body: &'a Value,
    /// The body byte-exact, as kept.
    pub raw: Bytes,
    /// A dedupe key that replaces the mapping's (reconciliation's rebuilt events).
    pub dedupe_key: Option<String>,
    pub received_at: Timestamp,
}

/// What the intake did with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The gateway's own write-back coming back: acknowledged, nothing kept.
    Echo(&'static str),
    /// Committed now, or a redelivery of an event committed before (nothing created).
    Committed {
        ingest: IngestOutcome,
        event_type: String,
        /// How many calls were planned (0 when skipped, unrouted or parked).
        calls: usize,
        disposition: Disposition,
    },
}

/// What a replay of a parked event did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Replayed {
    pub id: EventId,
    /// False when the event was no longer parked: nothing was written.
    pub settled: bool,
    /// Calls now planned (delivered by the dispatcher).
    pub calls: usize,
    /// The event's disposition now (still parked, with the new reason, when it still fails).
    pub disposition: Disposition,
}

/// The intake step, shared by every entry point.
pub struct Intake {
    store: Arc<dyn Store>,
    mappings: Arc<LiveMappings>,
    backlog: Arc<Backlog>,
    max_backlog: u64,
}

impl Intake {
    /// An intake that refuses new events while more than `max_backlog` deliveries wait.
    pub fn new(store: Arc<dyn Store>, mappings: Arc<LiveMappings>, max_backlog: u64) -> Self {
        Self {
            store,
            mappings,
            backlog: Arc::default(),
            max_backlog,
        }
    }

    /// Echo check, mapping (or parking), backlog, one durable commit.
    pub async fn submit(&self, s: Submission<'_>) -> Result<Outcome, IntakeError> {
        if let Some(why) = self.echo_of(&s).await? {
            metrics::counter!("itsm_bridge_echoes_dropped_total", "tenant" => s.tenant.to_string())
                .increment(1);
            tracing::debug!(tenant = %s.tenant, source = %s.source, why, "echo of the gateway's own write dropped");
            return Ok(Outcome::Echo(why));
        }
        let mapping = self
            .mappings
            .current()
            .get(s.tenant, s.source)
            .ok_or_else(|| IntakeError::NoMapping {
                tenant: s.tenant.clone(),
                name: s.source.clone(),
            })?;
        let incoming = Incoming {
            kind: s.kind,
            headers: s.headers,
            body: s.body,
            raw: &s.raw,
        };
        let (mapped, disposition) =
            tracing::info_span!("intake.map").in_scope(|| map(&mapping, &incoming));
        let calls = mapped.calls.len();
        let mut event = mapped.into_event(s.tenant, s.source, s.raw, s.kept_headers, s.received_at);
        event.disposition = disposition;
        if let Some(key) = s.dedupe_key {
            event.dedupe_key = key;
        }
        if let Err(pending) = self.backlog.check(&self.store, self.max_backlog) {
            return Err(IntakeError::BacklogFull {
                pending,
                max: self.max_backlog,
            });
        }
        let (event_type, disposition) = (event.event_type.clone(), event.disposition.clone());
        let ingest = self
            .store
            .ingest(event)
            .instrument(tracing::info_span!("intake.commit"))
            .await?;
        if let IngestOutcome::Accepted(id) = ingest {
            count(s.tenant, s.source, id, &event_type, &disposition);
        }
        Ok(Outcome::Committed {
            ingest,
            event_type,
            calls,
            disposition,
        })
    }

    /// `Some(reason)` when the event was caused by the gateway's own write-back: its actor is
    /// the integration user, or it carries something the gateway wrote (a remembered
    /// fingerprint), which also catches writes whose actor the ITSM does not report.
    async fn echo_of(&self, s: &Submission<'_>) -> Result<Option<&'static str>, StoreError> {
        let check = echo_check(s.kind, s.integration_user, s.body);
        if check.by_integration {
            return Ok(Some("integration user"));
        }
        for fp in &check.fingerprints {
            if self.store.is_echo(s.tenant, fp, s.received_at).await? {
                return Ok(Some("fingerprint of a write-back"));
            }
        }
        Ok(None)
    }

    /// Maps a parked event again with the mapping in force now and records the result: its
    /// deliveries when it maps (once: a second replay finds it settled and writes nothing),
    /// or the new reason when it still fails. An event that is not parked is left alone.
    pub async fn replay(&self, e: &StoredEvent, now: Timestamp) -> Result<Replayed, IntakeError> {
        let not_parked = || Replayed {
            id: e.id,
            settled: false,
            calls: 0,
            disposition: e.disposition.clone(),
        };
        if e.disposition.parked.is_none() {
            return Ok(not_parked());
        }
        let mapping = self
            .mappings
            .current()
            .get(&e.tenant, &e.source)
            .ok_or_else(|| IntakeError::NoMapping {
                tenant: e.tenant.clone(),
                name: e.source.clone(),
            })?;
        let body: Value = serde_json::from_slice(&e.body)
            .map_err(|err| IntakeError::Corrupt(e.id, err.to_string()))?;
        let headers = header_map(&e.headers);
        let incoming = Incoming {
            kind: mapping.kind,
            headers: &headers,
            body: &body,
            raw: &e.body,
        };
        let (mapped, disposition) = map(&mapping, &incoming);
        let ticket = TicketKey::new(&e.tenant, &e.source, mapped.ticket.as_deref().unwrap_or(""));
        let deliveries = Mapped::deliveries(mapped.calls, &ticket);
        let calls = deliveries.len();
        let settled = self
            .store
            .settle_parked(
                e.id,
                &mapped.event_type,
                disposition.clone(),
                deliveries,
                now,
            )
            .await?;
        if !settled {
            return Ok(not_parked());
        }
        match &disposition.parked {
            Some(p) => {
                tracing::info!(tenant = %e.tenant, event.id = %e.id, reason = p.reason.as_str(), rule = p.rule.as_deref().unwrap_or(""), "replayed event is still parked")
            }
            None => {
                tracing::info!(tenant = %e.tenant, event.id = %e.id, calls, "parked event replayed")
            }
        }
        metrics::counter!("itsm_bridge_events_replayed_total", "tenant" => e.tenant.to_string(),
            "outcome" => if disposition.parked.is_some() { "parked" } else { "mapped" })
        .increment(1);
        Ok(Replayed {
            id: e.id,
            settled,
            calls,
            disposition,
        })
    }
}

/// The event schema and the mapping applied to one event: what to commit and its disposition
/// (the console's playground shows the same, committing nothing).
/// Never fails: what the mapping cannot handle is parked, under the keys the mapping gives it.
pub fn map(mapping: &Mapping, incoming: &Incoming<'_>) -> (Mapped, Disposition) {
    let violations = crate::mapping::schemas::check_event(incoming.kind, incoming.body);
    if let Some(v) = violations.first() {
        let parked = Parked {
            reason: ParkReason::SchemaViolation,
            detail: format!("{} event: {}", incoming.kind.as_str(), v.message),
            rule: None,
            pointer: Some(v.pointer.clone()),
        };
        return parked_as(mapping, incoming, parked);
    }
    match mapping.apply(incoming) {
        Ok(m) if m.unrouted && mapping.unrouted() == Unrouted::Park => {
            let parked = Parked {
                reason: ParkReason::Unrouted,
                detail: m.skipped.clone().unwrap_or_default(),
                rule: None,
                pointer: None,
            };
            let d = Disposition {
                skipped: None,
                unrouted: true,
                parked: Some(parked),
            };
            (m, d)
        }
        Ok(m) => {
            let d = Disposition {
                skipped: m.skipped.clone(),
                unrouted: m.unrouted,
                parked: None,
            };
            (m, d)
        }
        Err(e) => parked_as(mapping, incoming, parked_of(&e)),
    }
}

fn parked_of(e: &MapError) -> Parked {
    Parked {
        reason: match e.cause {
            MapCause::Rule => ParkReason::MappingRejected,
            MapCause::OrangeSchema => ParkReason::OrangeSchemaViolation,
        },
        detail: e.message.clone(),
        rule: Some(e.rule.clone()),
        pointer: Some(e.pointer.clone()).filter(|p| !p.is_empty()),
    }
}

/// A parked event under the keys the mapping gives it, with nothing to send.
fn parked_as(mapping: &Mapping, incoming: &Incoming<'_>, parked: Parked) -> (Mapped, Disposition) {
    let k = mapping.keys(incoming);
    let mapped = Mapped {
        dedupe_key: k.dedupe,
        ticket: k.ticket,
        event_type: k.event_type,
        calls: vec![],
        skipped: None,
        unrouted: false,
        routes: vec![],
        number: k.number,
    };
    (mapped, Disposition::parked(parked))
}

/// Counts and logs what became of a newly committed event (never its body).
fn count(tenant: &TenantId, source: &SourceName, id: EventId, event_type: &str, d: &Disposition) {
    if let Some(p) = &d.parked {
        metrics::counter!("itsm_bridge_events_parked_total", "tenant" => tenant.to_string(), "reason" => p.reason.as_str())
            .increment(1);
        tracing::warn!(%tenant, %source, event.id = %id, reason = p.reason.as_str(), rule = p.rule.as_deref().unwrap_or(""), pointer = p.pointer.as_deref().unwrap_or(""), "event parked: the mapping cannot handle it; fix the mapping and replay it");
    }
    if d.unrouted {
        let label: String = event_type.chars().take(MAX_LABEL).collect();
        metrics::counter!("itsm_bridge_events_unrouted_total", "tenant" => tenant.to_string(), "source" => source.to_string(), "event_type" => label)
            .increment(1);
        tracing::debug!(%tenant, %source, event.id = %id, event_type, "event matched no route");
    }
}

/// The stored headers as a header map, for the mapping (names or values that cannot be
/// headers any more are left out).
fn header_map(kept: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (k, v) in kept {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    headers
}
