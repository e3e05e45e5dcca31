//! `map`: dry run of one mapping on one event. Prints, as JSON, the Orange calls the event
//! would produce (method, path, body, lookups) or the reason it produces none.

use std::path::Path;
use std::process::ExitCode;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::domain::{OrangeOp, SourceKind};
use crate::mapping::{Incoming, Mapping};

/// Method and path template of an Orange operation, for display (`{id}` is the linked id).
pub fn http_of(op: &OrangeOp) -> (&'static str, &'static str) {
    match op {
        OrangeOp::CreateIncident => ("POST", "/incidents"),
        OrangeOp::UpdateIncident => ("PATCH", "/incidents/{id}"),
        OrangeOp::AddIncidentNote => ("POST", "/incidents/{id}/notes"),
        OrangeOp::UploadIncidentAttachment { .. } => ("POST", "/incidents/{id}/attachments"),
        OrangeOp::CreateTroubleTicket => ("POST", "/troubleTickets"),
        OrangeOp::CommentTroubleTicket => ("PATCH", "/troubleTickets/{id}"),
        OrangeOp::SubmitOrder => ("POST", "/requests"),
    }
}

fn parse_headers(headers: &[String]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for h in headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("header `{h}` is not 'Name: value'"))?;
        let name = HeaderName::try_from(k.trim()).map_err(|_| format!("bad header name `{k}`"))?;
        let value =
            HeaderValue::try_from(v.trim()).map_err(|_| format!("bad header value in `{h}`"))?;
        map.append(name, value);
    }
    Ok(map)
}

pub fn map(mapping: &Path, event: &Path, source: Option<&str>, headers: &[String]) -> ExitCode {
    let name = mapping.display().to_string();
    let m = match Mapping::from_file(mapping, &name) {
        Ok(m) => m,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            return ExitCode::FAILURE;
        }
    };
    let kind = match source {
        None => m.kind,
        Some("jira") => SourceKind::Jira,
        Some("servicenow") => SourceKind::Servicenow,
        Some("generic") => SourceKind::Generic,
        Some(other) => {
            eprintln!("error: --source must be servicenow, jira or generic, not `{other}`");
            return ExitCode::FAILURE;
        }
    };
    let raw = match std::fs::read(event) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", event.display());
            return ExitCode::FAILURE;
        }
    };
    let body: Value = match serde_json::from_slice(&raw) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "{}:{}:{}: not JSON: {e}",
                event.display(),
                e.line(),
                e.column()
            );
            return ExitCode::FAILURE;
        }
    };
    let headers = match parse_headers(headers) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match m.apply(&Incoming {
        kind,
        headers: &headers,
        body: &body,
        raw: &raw,
    }) {
        Ok(mapped) => {
            let calls: Vec<Value> = mapped
                .calls
                .iter()
                .map(|c| {
                    let (method, path) = http_of(&c.op);
                    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("method".into(), json!(method));
                        o.insert("path".into(), json!(path));
                    }
                    v
                })
                .collect();
            let out = json!({
                "event_type": mapped.event_type,
                "dedupe_key": mapped.dedupe_key,
                "ticket": mapped.ticket,
                "calls": calls,
                "skipped": mapped.skipped,
            });
            crate::outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "{name}:{}: {} (event at {})",
                e.rule,
                e.message,
                if e.pointer.is_empty() {
                    "-"
                } else {
                    &e.pointer
                }
            );
            ExitCode::FAILURE
        }
    }
}
