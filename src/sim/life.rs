//! Orange-side life: the status progressions (all inferred; docs/simulators.md), Orange-authored
//! notes, and the optional timer that advances everything open one step per tick.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::state::{Data, SimState};

/// Incident statuses, in order. Only `VALIDATED` appears in the docs.
pub const INCIDENT_FLOW: [&str; 5] = [
    "SUBMITTED",
    "VALIDATED",
    "IN_PROGRESS",
    "RESOLVED",
    "CLOSED",
];
/// Wholesale statuses as documented; the happy path uses five of them.
pub const TICKET_FLOW: [&str; 5] = [
    "submitted",
    "in_qualification",
    "ongoing",
    "restored",
    "closed",
];
pub const TICKET_STATUSES: [&str; 8] = [
    "submitted",
    "in_qualification",
    "ongoing",
    "restored",
    "repaired",
    "closed",
    "frozen",
    "errored",
];
/// Ordering request steps (only `REQUEST` appears in the docs).
pub const REQUEST_FLOW: [&str; 5] = ["REQUEST", "VALIDATION", "ORDER", "DELIVERY", "COMPLETED"];

/// The name Orange-authored notes carry.
pub const ORANGE_AUTHOR: &str = "Orange Business Support";

/// The status after `current` in `flow` (`None` at the end or for a status off the flow).
pub fn next_in(flow: &[&'static str], current: &str) -> Option<&'static str> {
    let i = flow.iter().position(|s| *s == current)?;
    flow.get(i + 1).copied()
}

/// English and French labels of incident statuses (`Accept-Language: fr`).
pub fn status_label(status: &str, fr: bool) -> String {
    let (en, fr_label) = match status {
        "SUBMITTED" => ("Submitted", "Soumis"),
        "VALIDATED" => ("Validated", "Validé"),
        "IN_PROGRESS" => ("In progress", "En cours de traitement"),
        "RESOLVED" => ("Resolved", "Résolu"),
        "CLOSED" => ("Closed", "Clos"),
        "CANCELLED" => ("Cancelled", "Annulé"),
        other => (other, other),
    };
    if fr { fr_label } else { en }.to_owned()
}

/// Moves incident `id` to `to` (or the next status); `None` if unknown or already last.
pub fn advance_incident(d: &mut Data, id: &str, to: Option<&str>) -> Option<Value> {
    let stamp = d.stamp();
    let inc = d.incidents.get_mut(id)?;
    let current = inc.body["status"].as_str().unwrap_or_default().to_owned();
    let next = match to {
        Some(s) => s.to_owned(),
        None => next_in(&INCIDENT_FLOW, &current)?.to_owned(),
    };
    inc.body["status"] = json!(next);
    inc.body["lastUpdateDate"] = json!(stamp);
    if next == "RESOLVED" {
        inc.body["resolvedAt"] = json!(stamp);
    }
    Some(inc.body.clone())
}

/// Adds an Orange-authored note to incident `id`.
pub fn orange_note(d: &mut Data, id: &str, text: &str) -> Option<Value> {
    add_note(d, id, text, "ORANGE", ORANGE_AUTHOR)
}

pub fn add_note(d: &mut Data, id: &str, text: &str, origin: &str, name: &str) -> Option<Value> {
    let seq = d.next_seq();
    let stamp = d.stamp();
    let inc = d.incidents.get_mut(id)?;
    let note = json!({
        "id": format!("N{seq:07}"), "author": {"origin": origin, "name": name},
        "text": text, "createdAt": stamp,
    });
    inc.notes.push(note.clone());
    inc.body["lastUpdateDate"] = json!(stamp);
    Some(note)
}

/// Moves Wholesale ticket `id` to `to` (or the next status), with an Orange note.
pub fn advance_ticket(d: &mut Data, id: &str, to: Option<&str>) -> Option<Value> {
    let stamp = d.stamp();
    let t = d.tickets.get_mut(id)?;
    let current = t["status"].as_str().unwrap_or_default().to_owned();
    let next = match to {
        Some(s) => s.to_owned(),
        None => next_in(&TICKET_FLOW, &current)?.to_owned(),
    };
    t["status"] = json!(next);
    t["statusChange"] =
        json!({"changeDate": stamp, "changeReason": format!("Status changed to {next}")});
    if next == "restored" || next == "closed" {
        t["resolutionDate"] = json!(stamp);
    }
    if let Some(notes) = t["note"].as_array_mut() {
        notes.push(json!({"date": stamp, "type": "Outward customer comments",
            "text": format!("Ticket is now {next}"), "@type": "NoteTtType"}));
    }
    Some(t.clone())
}

/// Moves Ordering request `id` to `to` (or the next step).
pub fn advance_request(d: &mut Data, id: &str, to: Option<&str>) -> Option<Value> {
    let stamp = d.stamp();
    let r = d.requests.get_mut(id)?;
    let current = r["step"].as_str().unwrap_or_default().to_owned();
    let next = match to {
        Some(s) => s.to_owned(),
        None => next_in(&REQUEST_FLOW, &current)?.to_owned(),
    };
    r["step"] = json!(next);
    r["lastUpdateDate"] = json!(stamp);
    Some(r.clone())
}

/// One step of Orange-side life for everything open; returns how many objects moved.
pub fn tick(d: &mut Data) -> usize {
    let ids: Vec<String> = d
        .incidents
        .iter()
        .filter_map(|i| i.body["id"].as_str().map(str::to_owned))
        .collect();
    let mut moved = 0;
    for id in ids {
        if let Some(inc) = advance_incident(d, &id, None) {
            let status = inc["status"].as_str().unwrap_or_default().to_owned();
            orange_note(d, &id, &format!("Orange update: incident is now {status}."));
            moved += 1;
        }
    }
    let ids: Vec<String> = d
        .tickets
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    moved += ids
        .iter()
        .filter(|id| advance_ticket(d, id, None).is_some())
        .count();
    let ids: Vec<String> = d
        .requests
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    moved += ids
        .iter()
        .filter(|id| advance_request(d, id, None).is_some())
        .count();
    moved
}

/// Runs `tick` every `every` until the state is dropped by everyone else.
pub fn spawn_timer(st: &Arc<SimState>, every: Duration) {
    let weak = Arc::downgrade(st);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            let Some(st) = weak.upgrade() else { break };
            let moved = tick(&mut st.data());
            tracing::debug!(sim.moved = moved, "orange-side life tick");
        }
    });
}
