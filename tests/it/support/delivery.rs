//! The delivery rig's parts that the tests and the benchmarks share: a dispatcher on the real
//! Orange clients with write-backs refused, events committed the way the intake commits them,
//! a ticket's numbered steps as Orange calls, claimed deliveries finished the way the
//! dispatcher finishes them, and the busiest second of a run.
//!
//! Included by `tests/it/support/mod.rs` and, through `#[path]`, by `benches/delivery` and
//! `benches/poll`: it names only `itsm_bridge` and outside crates, never `crate::…`.

#![allow(dead_code)] // each includer uses a different part

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use itsm_bridge::config::Config;
use itsm_bridge::domain::{
    Attempt, CallFailure, Delivery, DeliveryId, EventId, FailureClass, ItsmCall, NewDelivery,
    NewEvent, OrangeCall, OrangeOp, SourceName, Target, TenantId, TicketKey, Timestamp,
};
use itsm_bridge::orange::OrangeClients;
use itsm_bridge::store::{DeliveryQueue, Finish, Store};
use itsm_bridge::worker::Dispatcher;
use itsm_bridge::worker::{Booked, ItsmWriter, Written};
use serde_json::{Value, json};

/// Write-backs are not what the delivery tests and benchmarks exercise: refuse them loudly.
pub struct NoItsm;

#[async_trait]
impl ItsmWriter for NoItsm {
    fn reserve(&self, _: &TenantId, _: &ItsmCall) -> Result<Booked, std::time::Duration> {
        Ok(Booked::new())
    }
    async fn execute(&self, _: &TenantId, _: &ItsmCall, _: Booked) -> Result<Written, CallFailure> {
        Err(CallFailure {
            class: FailureClass::Permanent,
            http_status: None,
            code: None,
            message: "no ITSM writer in the delivery tests and benchmarks".into(),
        })
    }
}

/// The dispatcher of `config` on `store`, calling Orange with the real clients, as `owner`.
pub fn dispatcher(store: Arc<dyn Store>, config: &Config, owner: &str) -> Arc<Dispatcher> {
    Arc::new(Dispatcher::new(
        store,
        Arc::new(
            OrangeClients::new(
                &config.orange,
                config.delivery.max_attachment_bytes,
                &config.tenants,
            )
            .expect("Orange clients"),
        ),
        Arc::new(NoItsm),
        config.delivery.clone(),
        owner,
    ))
}

/// An Orange call with no lookups.
pub fn call(op: OrangeOp, body: Value, ext: Option<&str>) -> OrangeCall {
    OrangeCall {
        op,
        body,
        external_ref: ext.map(str::to_owned),
        lookups: vec![],
    }
}

/// A note `text` on the ticket's incident.
pub fn incident_note(text: &str) -> OrangeCall {
    call(OrangeOp::AddIncidentNote, json!({ "text": text }), None)
}

/// An update of the ticket's incident: its description becomes `description`.
pub fn incident_update(description: &str) -> OrangeCall {
    call(
        OrangeOp::UpdateIncident,
        json!({ "description": description }),
        None,
    )
}

/// Step `k` of ticket `t` (referenced `{prefix}-{t}`): the create at 0, then notes (odd `k`)
/// and updates (even `k`) alternating, each text `T{t} #{k}` so the journal tells them apart.
pub fn step_call(prefix: &str, t: usize, k: usize) -> OrangeCall {
    let reference = format!("{prefix}-{t}");
    match k {
        0 => call(
            OrangeOp::CreateIncident,
            json!({"shortDescription": format!("T{t}"), "externalReference": reference}),
            Some(&reference),
        ),
        k if k % 2 == 1 => incident_note(&format!("T{t} #{k}")),
        k => incident_update(&format!("T{t} #{k}")),
    }
}

/// An event of `ticket` (of `tenant`'s `source`) received now, deduplicated by `dedupe_key`,
/// planning `calls`, as the intake commits it after mapping.
pub fn new_event(
    tenant: &TenantId,
    source: &SourceName,
    ticket: &str,
    dedupe_key: String,
    body: Bytes,
    calls: Vec<OrangeCall>,
) -> NewEvent {
    let key = TicketKey::new(tenant, source, ticket);
    NewEvent {
        id: EventId::new(),
        tenant: tenant.clone(),
        source: source.clone(),
        dedupe_key,
        ticket: key.clone(),
        event_type: "update".into(),
        body,
        headers: Vec::new(),
        received_at: time::OffsetDateTime::now_utc(),
        ticket_number: None,
        routing: Default::default(),
        deliveries: calls
            .into_iter()
            .map(|c| NewDelivery {
                ticket: key.clone(),
                target: Target::Orange(c),
            })
            .collect(),
        disposition: Default::default(),
    }
}

/// Claims up to `limit` due deliveries as `owner` (a lease of ten minutes) and finishes each
/// with `attempt` and the outcome `finish` gives it, one after the other, as the dispatcher
/// would. Returns their ids, oldest first (none when nothing was due).
pub async fn finish_due(
    store: &dyn DeliveryQueue,
    owner: &str,
    now: Timestamp,
    limit: usize,
    attempt: &Attempt,
    finish: impl Fn(&Delivery) -> Finish,
) -> Vec<DeliveryId> {
    let due = store
        .claim_due(owner, now, now + time::Duration::minutes(10), limit)
        .await
        .expect("claim");
    for d in &due {
        store
            .finish(d.id, owner, attempt, finish(d))
            .await
            .expect("finish");
    }
    due.iter().map(|d| d.id).collect()
}

/// The largest number of `times` within any one-second window starting at one of them.
pub fn busiest_second(mut times: Vec<Timestamp>) -> usize {
    times.sort();
    let mut best = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while j < times.len() && times[j] - times[i] < time::Duration::seconds(1) {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}
