//! Row shapes and conversions shared by both backends.
//!
//! Both schemas keep timestamps as unix milliseconds (`INTEGER` / `BIGINT`) and ids as text,
//! so one set of `FromRow` structs decodes rows from SQLite and PostgreSQL alike. Timestamps
//! are therefore kept to the millisecond: a value read back is the one written, truncated.

use sqlx::types::Json;

use super::{StoreError, StoreResult, text};
use crate::domain::{
    Attempt, AttemptOutcome, Delivery, DeliveryId, DeliveryState, Discarded, Disposition, EventId,
    Link, NewDelivery, NewEvent, OrangeApi, ParkReason, Parked, SourceName, StoredEvent, Target,
    TenantId, TicketKey, Timestamp,
};

/// Unix milliseconds of `t` (truncated towards the past).
pub(crate) fn ms(t: Timestamp) -> i64 {
    let nanos = t.unix_timestamp_nanos();
    i64::try_from(nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

/// Unix ms of a cutoff, `i64::MIN` (nothing is before it) for never.
pub(crate) fn cutoff(t: Option<crate::domain::Timestamp>) -> i64 {
    t.map_or(i64::MIN, ms)
}

/// The smallest UUIDv7 text of an instant: ids below it were made before `ms` (UUIDv7 keeps
/// the unix milliseconds in its first 48 bits, so ids sort by time).
pub(crate) fn id_bound(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

/// The instant `ms` unix milliseconds name.
pub(crate) fn ts(ms: i64) -> StoreResult<Timestamp> {
    Timestamp::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

/// The columns every delivery query selects, for [`DeliveryRow`] (a macro so that queries
/// stay `&'static str` through `concat!`), from `deliveries` not renamed: the planned call is
/// read from its own table (see migration 0012).
macro_rules! delivery_cols {
    () => {
        "id, tenant, event_id, ticket, seq, \
         (SELECT target FROM delivery_calls c WHERE c.delivery_id = deliveries.id) AS target, \
         state, attempts, next_attempt_at, created_at, last_error, waiting_link"
    };
}
pub(crate) use delivery_cols;

/// A row of [`delivery_cols!`], in that order (also read column by column: SQLite's writer).
#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub id: i64,
    pub tenant: String,
    pub event_id: Option<String>,
    pub ticket: String,
    pub seq: i64,
    pub target: Json<Target>,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub last_error: Option<String>,
    pub waiting_link: Option<String>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> StoreResult<Delivery> {
        Ok(Delivery {
            id: DeliveryId(r.id),
            tenant: tenant(r.tenant)?,
            event_id: r.event_id.as_deref().map(event_id).transpose()?,
            ticket: TicketKey::from_stored(r.ticket),
            seq: r.seq,
            target: r.target.0,
            // Stored as `pending` with a reason (see migration 0005).
            state: match DeliveryState::parse(&r.state) {
                Some(DeliveryState::Pending) if r.waiting_link.is_some() => {
                    DeliveryState::WaitingLink
                }
                Some(s) => s,
                None => return Err(StoreError::Corrupt(format!("delivery state {:?}", r.state))),
            },
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            next_attempt_at: ts(r.next_attempt_at)?,
            created_at: ts(r.created_at)?,
            last_error: r.last_error,
            waiting_link: r.waiting_link,
        })
    }
}

macro_rules! event_cols {
    () => {
        "id, tenant, source, dedupe_key, ticket, event_type, body, headers, received_at, \
         skipped, unrouted, parked, parked_detail, parked_rule, parked_pointer, \
         routing, ticket_number, discarded, discarded_at"
    };
}
pub(crate) use event_cols;

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: String,
    tenant: String,
    source: String,
    dedupe_key: String,
    ticket: String,
    event_type: String,
    body: Vec<u8>,
    headers: Json<Vec<(String, String)>>,
    received_at: i64,
    skipped: Option<String>,
    unrouted: bool,
    parked: Option<String>,
    parked_detail: Option<String>,
    parked_rule: Option<String>,
    parked_pointer: Option<String>,
    routing: Option<String>,
    ticket_number: Option<String>,
    discarded: Option<String>,
    discarded_at: Option<i64>,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> StoreResult<StoredEvent> {
        // A discarded event keeps its park reason in `discarded` (detail, rule and pointer in
        // their columns): it decodes as parked, then moves aside.
        let mut disposition = disposition(
            &r.event_type,
            r.skipped,
            r.unrouted,
            r.parked.or(r.discarded),
            r.parked_detail,
            r.parked_rule,
            r.parked_pointer,
        )?;
        let discarded = match r.discarded_at {
            Some(at) => Some(Discarded {
                parked: disposition.parked.take().ok_or_else(|| {
                    StoreError::Corrupt(format!("event {}: discarded, never parked", r.id))
                })?,
                at: ts(at)?,
            }),
            None => None,
        };
        Ok(StoredEvent {
            id: event_id(&r.id)?,
            tenant: tenant(r.tenant)?,
            source: SourceName::parse(r.source).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            dedupe_key: r.dedupe_key,
            ticket: TicketKey::from_stored(r.ticket),
            event_type: r.event_type,
            body: r.body.into(),
            headers: r.headers.0,
            received_at: ts(r.received_at)?,
            disposition,
            routing: r
                .routing
                .map(|j| {
                    serde_json::from_str(&j)
                        .map_err(|e| StoreError::Corrupt(format!("event routing: {e}")))
                })
                .transpose()?,
            ticket_number: r.ticket_number,
            discarded,
        })
    }
}

/// The disposition a row's columns hold. An unrouted event keeps no text (its reason is
/// implied), so the common unrouted row costs one small integer.
fn disposition(
    event_type: &str,
    skipped: Option<String>,
    unrouted: bool,
    parked: Option<String>,
    detail: Option<String>,
    rule: Option<String>,
    pointer: Option<String>,
) -> StoreResult<Disposition> {
    let parked = parked
        .map(|p| {
            Ok::<_, StoreError>(Parked {
                reason: ParkReason::parse(&p)
                    .ok_or_else(|| StoreError::Corrupt(format!("parked reason {p:?}")))?,
                detail: detail.unwrap_or_default(),
                rule,
                pointer,
            })
        })
        .transpose()?;
    let skipped = match (skipped, unrouted, &parked) {
        (Some(s), ..) => Some(s),
        (None, true, None) => Some(unrouted_reason(event_type)),
        _ => None,
    };
    Ok(Disposition {
        skipped,
        unrouted,
        parked,
    })
}

/// What an unrouted, not parked event reads as skipped for (the words `mapping::apply` uses).
fn unrouted_reason(event_type: &str) -> String {
    format!("no route matches event `{event_type}`")
}

/// The disposition columns of an event, serialised once before any transaction is open.
#[derive(Debug, Default, Clone)]
pub(crate) struct PreparedDisposition {
    pub skipped: Option<String>,
    pub unrouted: bool,
    pub parked: Option<&'static str>,
    pub parked_detail: Option<String>,
    pub parked_rule: Option<String>,
    pub parked_pointer: Option<String>,
}

impl PreparedDisposition {
    pub fn new(d: &Disposition) -> Self {
        let p = d.parked.as_ref();
        // Texts that may quote the event (a value not in a table) lose their NUL, as every
        // stored text does (see `text`): PostgreSQL refuses it.
        Self {
            // An unrouted event's reason is implied: keep the row small on the hot path.
            skipped: d
                .skipped
                .clone()
                .filter(|_| !d.unrouted)
                .map(text::strip_nul),
            unrouted: d.unrouted,
            parked: p.map(|p| p.reason.as_str()),
            parked_detail: p.map(|p| text::strip_nul(p.detail.clone())),
            parked_rule: p.and_then(|p| p.rule.clone()).map(text::strip_nul),
            parked_pointer: p.and_then(|p| p.pointer.clone()).map(text::strip_nul),
        }
    }
}

macro_rules! attempt_cols {
    () => {
        "at, outcome, http_status, error_code, error, latency_ms"
    };
}
pub(crate) use attempt_cols;

#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    at: i64,
    outcome: String,
    http_status: Option<i64>,
    error_code: Option<String>,
    error: Option<String>,
    latency_ms: i64,
}

impl TryFrom<AttemptRow> for Attempt {
    type Error = StoreError;
    fn try_from(r: AttemptRow) -> StoreResult<Attempt> {
        Ok(Attempt {
            at: ts(r.at)?,
            outcome: AttemptOutcome::parse(&r.outcome)
                .ok_or_else(|| StoreError::Corrupt(format!("attempt outcome {:?}", r.outcome)))?,
            http_status: r.http_status.and_then(|s| u16::try_from(s).ok()),
            error_code: r.error_code,
            error: r.error,
            latency_ms: u64::try_from(r.latency_ms).unwrap_or(0),
        })
    }
}

macro_rules! link_cols {
    () => {
        "tenant, source, ticket, api, orange_id, created_at"
    };
}
pub(crate) use link_cols;

#[derive(sqlx::FromRow)]
pub(crate) struct LinkRow {
    tenant: String,
    source: String,
    ticket: String,
    api: String,
    orange_id: String,
    created_at: i64,
}

impl TryFrom<LinkRow> for Link {
    type Error = StoreError;
    fn try_from(r: LinkRow) -> StoreResult<Link> {
        Ok(Link {
            tenant: tenant(r.tenant)?,
            source: SourceName::parse(r.source).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ticket: TicketKey::from_stored(r.ticket),
            api: parse_api(&r.api)?,
            orange_id: r.orange_id,
            created_at: ts(r.created_at)?,
        })
    }
}

fn tenant(s: String) -> StoreResult<TenantId> {
    TenantId::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn event_id(s: &str) -> StoreResult<EventId> {
    EventId::parse(s).map_err(|e| StoreError::Corrupt(format!("event id {s:?}: {e}")))
}

fn parse_api(s: &str) -> StoreResult<OrangeApi> {
    Ok(match s {
        "incident" => OrangeApi::Incident,
        "trouble_ticket" => OrangeApi::TroubleTicket,
        "core_information" => OrangeApi::CoreInformation,
        "ordering" => OrangeApi::Ordering,
        other => return Err(StoreError::Corrupt(format!("orange api {other:?}"))),
    })
}

/// The source named in a ticket key (`tenant/source/ticket`), for links.
pub(crate) fn ticket_source(ticket: &TicketKey) -> StoreResult<SourceName> {
    let part = ticket.as_str().split('/').nth(1).unwrap_or("");
    SourceName::parse(part)
        .map_err(|e| StoreError::Corrupt(format!("ticket key {:?}: {e}", ticket.as_str())))
}

/// What an operator reads as the delivery's last error, from an attempt.
pub(crate) fn describe(a: &Attempt) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(s) = a.http_status {
        parts.push(format!("HTTP {s}"));
    }
    if let Some(c) = &a.error_code {
        parts.push(format!("[{c}]"));
    }
    if let Some(e) = &a.error {
        parts.push(e.clone());
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// JSON text both backends store alike: without NUL (see [`text`]).
pub(crate) fn storable_json(json: String) -> String {
    match text::json_without_nul(&json) {
        std::borrow::Cow::Borrowed(_) => json,
        std::borrow::Cow::Owned(clean) => clean,
    }
}

/// The poller's observations between the stored state and the one replacing it, each as the
/// JSON kept in `observations.change`.
pub(crate) fn observed(
    prior: Option<&crate::domain::RemoteState>,
    next: &crate::domain::RemoteState,
) -> StoreResult<Vec<String>> {
    crate::domain::observation::changes(prior, next)
        .iter()
        .map(|c| {
            serde_json::to_string(c).map_err(|e| StoreError::Corrupt(format!("observation: {e}")))
        })
        .collect()
}

macro_rules! observation_cols {
    () => {
        "at, change"
    };
}
pub(crate) use observation_cols;

#[derive(sqlx::FromRow)]
pub(crate) struct ObservationRow {
    at: i64,
    change: String,
}

impl TryFrom<ObservationRow> for crate::domain::Observation {
    type Error = StoreError;
    fn try_from(r: ObservationRow) -> StoreResult<Self> {
        Ok(Self {
            at: ts(r.at)?,
            change: serde_json::from_str(&r.change)
                .map_err(|e| StoreError::Corrupt(format!("observation: {e}")))?,
        })
    }
}

/// A delivery serialised once, before any transaction is open.
#[derive(Debug)]
pub(crate) struct PreparedDelivery {
    pub ticket: String,
    pub target: String,
}

pub(crate) fn prepare_deliveries(ds: &[NewDelivery]) -> StoreResult<Vec<PreparedDelivery>> {
    ds.iter()
        .map(|d| {
            Ok(PreparedDelivery {
                ticket: text::strip_nul_ref(d.ticket.as_str()).into_owned(),
                target: storable_json(
                    serde_json::to_string(&d.target)
                        .map_err(|e| StoreError::Corrupt(format!("target: {e}")))?,
                ),
            })
        })
        .collect()
}

/// An event serialised once in the caller's task, so the single writer only runs SQL.
#[derive(Debug)]
pub(crate) struct PreparedEvent {
    pub id: String,
    pub tenant: String,
    pub source: String,
    pub dedupe_key: String,
    pub ticket: String,
    pub event_type: String,
    pub body: bytes::Bytes,
    pub headers: String,
    pub received_at: i64,
    pub deliveries: Vec<PreparedDelivery>,
    pub disposition: PreparedDisposition,
    /// `Routing` as JSON.
    pub routing: String,
    /// The ticket's number or key, kept in `ticket_aliases` when first seen.
    pub ticket_number: Option<String>,
}

impl PreparedEvent {
    pub fn new(e: NewEvent) -> StoreResult<Self> {
        Ok(Self {
            id: e.id.to_string(),
            headers: serde_json::to_string(&e.headers)
                .map_err(|err| StoreError::Corrupt(format!("headers: {err}")))?,
            deliveries: prepare_deliveries(&e.deliveries)?,
            disposition: PreparedDisposition::new(&e.disposition),
            tenant: e.tenant.to_string(),
            source: e.source.to_string(),
            dedupe_key: text::strip_nul(e.dedupe_key),
            ticket: text::strip_nul_ref(e.ticket.as_str()).into_owned(),
            event_type: text::strip_nul(e.event_type),
            body: e.body,
            received_at: ms(e.received_at),
            routing: storable_json(
                serde_json::to_string(&e.routing)
                    .map_err(|err| StoreError::Corrupt(format!("routing: {err}")))?,
            ),
            ticket_number: e
                .ticket_number
                .map(text::strip_nul)
                .filter(|n| !n.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_millisecond() {
        let t = time::macros::datetime!(2026-03-01 12:00:00.123456789 UTC);
        assert_eq!(
            ts(ms(t)).unwrap(),
            time::macros::datetime!(2026-03-01 12:00:00.123 UTC)
        );
        let before_epoch = time::macros::datetime!(1969-12-31 23:59:59.9995 UTC);
        assert_eq!(ms(before_epoch), -1);
    }

    #[test]
    fn ticket_source_is_the_middle_segment() {
        let k = TicketKey::from_stored("acme/jira/OPS/1".into());
        assert_eq!(ticket_source(&k).unwrap().as_str(), "jira");
        assert!(ticket_source(&TicketKey::from_stored("nonsense".into())).is_err());
    }

    #[test]
    fn last_error_reads_status_code_and_message() {
        let a = Attempt {
            at: time::OffsetDateTime::UNIX_EPOCH,
            outcome: AttemptOutcome::Retryable,
            http_status: Some(503),
            error_code: Some("UNAVAILABLE".into()),
            error: Some("try later".into()),
            latency_ms: 3,
        };
        assert_eq!(describe(&a).unwrap(), "HTTP 503 [UNAVAILABLE] try later");
    }
}
