//! The pure half of ServiceNow reconciliation: where a run starts (encoded query and instant,
//! from the stored watermark), what the gateway already received for a record, and the
//! business-rule events a record read from the Table API (plus its `sys_journal_field`
//! entries) stands for that were never received.
//!
//! ServiceNow dates (`sys_updated_on`, `sys_created_on`) are UTC `YYYY-MM-DD HH:MM:SS` in the
//! Table API's database values, and a literal date in an encoded query is compared as UTC
//! too (only `javascript:gs.dateGenerate(…)` takes the user's zone), so unlike Jira there is no
//! zone to carry: the watermark is the newest `sys_updated_on` read, and a run starts
//! `overlap` before it.
//!
//! The record shows only its current version. So a missed *update* is rebuilt as one event
//! with the current fields, the current `sys_mod_count` (the key a webhook for that version
//! would carry: `sn:<sys_id>:<sys_mod_count>`) and, as `changed_fields`, the fields that
//! differ from the last version received; its author is the record's last updater. Missed
//! notes are exact: one event per journal entry, with that entry's author and time.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Map, Value, json};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::domain::echo::{echo_check, sn_note_fingerprint};
use crate::domain::{SourceKind, Timestamp};
use crate::mapping::keys::id_at;

use super::Rebuilt;

/// The journal fields reconciliation repairs (`sys_journal_field.element`).
pub const JOURNAL_ELEMENTS: [&str; 2] = ["work_notes", "comments"];

/// Where a run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// `sys_updated_on>=… ^ORDERBYsys_updated_on^ORDERBYsys_id`.
    pub query: String,
    /// The instant the query stands for: changes before it are not repaired.
    pub from: Timestamp,
}

/// A ServiceNow date (`2025-05-14 09:20:30`, UTC).
pub fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s.trim(), &f)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

fn format_date(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.format(&f).unwrap_or_default()
}

/// The record query from `at` on. `sys_id` breaks ties, so an offset within one crowded
/// second always addresses the same order.
fn query_from(at: OffsetDateTime) -> String {
    format!(
        "sys_updated_on>={}^ORDERBYsys_updated_on^ORDERBYsys_id",
        format_date(at)
    )
}

/// The start of a run: `overlap` before the watermark, or `lookback` before `now`.
pub fn start(
    watermark: Option<&str>,
    now: Timestamp,
    lookback: Duration,
    overlap: Duration,
) -> Start {
    let at = match watermark.and_then(parse_date) {
        Some(mark) => mark - overlap,
        None => now - lookback,
    };
    let at = at.replace_nanosecond(0).unwrap_or(at);
    Start {
        query: query_from(at),
        from: at,
    }
}

/// The query that continues a scan after a record updated at `updated` (keyset by second).
pub fn continue_from(updated: &str) -> Option<String> {
    parse_date(updated).map(query_from)
}

/// True when ServiceNow date `a` is later than `b` (unparsable dates are never later).
pub fn is_later(a: &str, b: Option<&str>) -> bool {
    match (parse_date(a), b.and_then(parse_date)) {
        (Some(x), Some(y)) => x > y,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The journal entries of `sys_ids` (one page of records) written from `from` on.
pub fn journal_query(table: &str, sys_ids: &[String], from: Timestamp) -> String {
    format!(
        "name={table}^element_idIN{}^elementIN{}^sys_created_on>={}^ORDERBYsys_created_on^ORDERBYsys_id",
        sys_ids.join(","),
        JOURNAL_ELEMENTS.join(","),
        format_date(from)
    )
}

/// The record inside a business-rule event: top level or under `record`/`incident`/`current`
/// (the shapes `mapping::keys` accepts).
fn record_of(body: &Value) -> &Value {
    ["", "/record", "/incident", "/current"]
        .iter()
        .find_map(|p| body.pointer(p).filter(|r| r.get("sys_id").is_some()))
        .unwrap_or(body)
}

fn mod_count(record: &Value) -> Option<u64> {
    id_at(record, "/sys_mod_count").and_then(|c| c.parse().ok())
}

/// What the gateway already holds for one record, read from its stored events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Received {
    pub inserted: bool,
    /// The `sys_mod_count`s received.
    pub versions: HashSet<u64>,
    /// Each field as the newest received version that carried it showed it, with that
    /// version (the base of a rebuilt update's `changed_fields`; a business rule may send a
    /// subset of the fields).
    pub fields: HashMap<String, (u64, Value)>,
    /// Fingerprints of the journal texts received (`domain::echo`'s, header stripped).
    pub notes: HashSet<String>,
}

impl Received {
    pub fn add(&mut self, body: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let record = record_of(&v);
        let operation = v.get("operation").and_then(Value::as_str);
        let count = mod_count(record);
        if operation == Some("insert") || (operation.is_none() && count == Some(0)) {
            self.inserted = true;
        }
        self.notes
            .extend(echo_check(SourceKind::Servicenow, None, &v).fingerprints);
        // An attachment event carries no fields; a rebuilt note carries no version.
        if let (Some(n), false) = (count, operation == Some("attachment")) {
            self.versions.insert(n);
            for (k, v) in record.as_object().into_iter().flatten() {
                if !is_bookkeeping(k) && self.fields.get(k).is_none_or(|(m, _)| n >= *m) {
                    self.fields.insert(k.clone(), (n, v.clone()));
                }
            }
        }
    }

    fn newest(&self) -> Option<u64> {
        self.versions.iter().max().copied()
    }
}

/// Fields a business rule sends that say nothing about what changed.
fn is_bookkeeping(field: &str) -> bool {
    field.starts_with("sys_")
        || JOURNAL_ELEMENTS.contains(&field)
        || matches!(field, "changed_fields" | "operation" | "table")
}

/// ServiceNow's empty value reads `""`; a business rule's `getValue()` gives `null`.
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    let norm = |v: Option<&Value>| match v {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v) => v.clone(),
    };
    norm(a) == norm(b)
}

/// The fields of `record` that differ from what was received (only those received: a
/// business rule may send a subset); every non-empty field when nothing was received.
fn changed_fields(record: &Map<String, Value>, received: &Received) -> Vec<String> {
    let nothing = received.fields.is_empty();
    let mut out: Vec<String> = record
        .iter()
        .filter(|(k, _)| !is_bookkeeping(k))
        .filter(|(k, v)| match received.fields.get(k.as_str()) {
            Some((_, before)) => !same(Some(v), Some(before)),
            None => nothing && !same(Some(v), None),
        })
        .map(|(k, _)| k.clone())
        .collect();
    out.sort();
    out
}

/// `getJournalEntry(1)`'s header: `<date> - <user> (Work notes)`.
fn journal_header(element: &str) -> &'static str {
    if element == "comments" {
        "Additional comments"
    } else {
        "Work notes"
    }
}

/// The events `record` (a Table API record, database values) and its `journal` entries stand
/// for that were not received, oldest first: its insert (unless linked or received), one
/// event per journal entry, and one update for its current version when that version was
/// not received and changed a field. Only what happened from `from` on.
pub fn synthesize(
    table: &str,
    record: &Value,
    journal: &[Value],
    from: Timestamp,
    received: &Received,
    linked: bool,
) -> Vec<Rebuilt> {
    let (Some(id), Some(fields)) = (id_at(record, "/sys_id"), record.as_object()) else {
        return vec![];
    };
    let since = |field: &str, v: &Value| {
        v.get(field)
            .and_then(Value::as_str)
            .and_then(parse_date)
            .filter(|t| *t >= from)
    };
    let event = |operation: &str, changed: Vec<String>| {
        let mut body = fields.clone();
        body.insert("operation".into(), json!(operation));
        body.insert("table".into(), json!(table));
        body.insert("changed_fields".into(), json!(changed));
        for f in JOURNAL_ELEMENTS {
            body.insert(f.into(), json!(""));
        }
        body
    };
    let mut out: Vec<(OffsetDateTime, Rebuilt)> = Vec::new();
    let mut inserted_now = false;
    if !linked
        && !received.inserted
        && let Some(at) = since("sys_created_on", record)
    {
        inserted_now = true;
        // Keyed as the insert's own webhook (`sys_mod_count` 0), so a late one is a duplicate;
        // the body keeps the current fields, which also covers the updates since.
        out.push((
            at,
            Rebuilt::new(Value::Object(event("insert", vec![])), "insert")
                .keyed(format!("sn:{id}:0")),
        ));
    }
    for entry in journal
        .iter()
        .filter(|e| id_at(e, "/element_id").as_deref() == Some(id.as_str()))
    {
        let (Some(entry_id), Some(element), Some(text), Some(at)) = (
            id_at(entry, "/sys_id"),
            entry.get("element").and_then(Value::as_str),
            entry.get("value").and_then(Value::as_str),
            since("sys_created_on", entry),
        ) else {
            continue;
        };
        if !JOURNAL_ELEMENTS.contains(&element)
            || text.trim().is_empty()
            || received.notes.contains(&sn_note_fingerprint(text))
        {
            continue;
        }
        let author = entry
            .get("sys_created_by")
            .and_then(Value::as_str)
            .unwrap_or("");
        let created = entry["sys_created_on"].as_str().unwrap_or("");
        let mut body = event("update", vec![element.to_owned()]);
        // The version this note made is not known (the journal does not say): no
        // `sys_mod_count`, so it neither claims nor shadows a version.
        body.remove("sys_mod_count");
        body.insert("sys_updated_by".into(), json!(author));
        body.insert("sys_updated_on".into(), json!(created));
        body.insert(
            element.into(),
            json!(format!(
                "{created} - {author} ({})\n{text}",
                journal_header(element)
            )),
        );
        out.push((
            at,
            Rebuilt::new(Value::Object(body), &format!("journal:{entry_id}"))
                .keyed(format!("sn-journal:{entry_id}")),
        ));
    }
    let current = mod_count(record);
    let newer = match (current, received.newest()) {
        (Some(c), Some(n)) => c > n,
        (Some(c), None) => c > 0,
        (None, _) => false,
    };
    if !inserted_now
        && newer
        && let Some(at) = since("sys_updated_on", record)
    {
        let changed = changed_fields(fields, received);
        if !changed.is_empty() {
            out.push((
                at,
                Rebuilt::new(Value::Object(event("update", changed)), "update"),
            ));
        }
    }
    // Stable: the insert sorts before what happened in the same second.
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests;
