//! Default keys of an event, by source kind: the dedupe key (redeliveries carry the same one),
//! the ticket it is about (deliveries of one ticket keep their order) and its type.
//!
//! - Jira: a comment event is keyed on `comment.id` and `comment.updated`, because adding a
//!   comment is delivered twice (`comment_created` and `jira:issue_updated`/`issue_commented`)
//!   under different delivery ids; anything else on `X-Atlassian-Webhook-Identifier`.
//!   The ticket is `issue.id` (stable across project moves), taken from `comment.self` on Data
//!   Center comment events, which carry no `issue`.
//! - ServiceNow: `sys_id` + `sys_mod_count` (incremented by every update); the ticket is
//!   `sys_id`.
//! - Otherwise (or when those fields are missing): the SHA-256 of the body.
//!
//! Ids that arrive as JSON numbers are keyed by their exact text (`rawnum.rs`).

use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::SourceKind;

/// Jira's delivery id header, unchanged across retries.
pub const JIRA_WEBHOOK_ID: &str = "x-atlassian-webhook-identifier";

/// The keys of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventKeys {
    pub dedupe: String,
    /// `None` when the event names no ticket (it can still be deduplicated and kept).
    pub ticket: Option<String>,
    pub event_type: String,
    /// The ticket's human number or key (ServiceNow `number`, Jira `issue.key`), so operators
    /// can name it; `None` when the event does not carry one.
    pub number: Option<String>,
}

/// An id that may arrive as a JSON string or number.
pub fn id_at(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// [`id_at`], with a number that `f64` could not hold read exactly from `raw`.
fn exact_id_at(v: &Value, raw: &[u8], pointer: &str) -> Option<String> {
    super::rawnum::id_text(v, Some(raw), pointer)
}

fn body_hash(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// Computes the default keys. `raw` is the body as received (for the hash fallback).
pub fn default_keys(kind: SourceKind, headers: &HeaderMap, body: &Value, raw: &[u8]) -> EventKeys {
    match kind {
        SourceKind::Jira => jira_keys(headers, body, raw),
        SourceKind::Servicenow => servicenow_keys(body, raw),
        SourceKind::Generic => EventKeys {
            dedupe: body_hash(raw),
            ticket: exact_id_at(body, raw, "/id").or_else(|| exact_id_at(body, raw, "/ticket/id")),
            event_type: body
                .get("event")
                .and_then(Value::as_str)
                .unwrap_or("generic")
                .to_owned(),
            number: id_at(body, "/number").or_else(|| id_at(body, "/ticket/number")),
        },
    }
}

fn jira_keys(headers: &HeaderMap, body: &Value, raw: &[u8]) -> EventKeys {
    let event_type = body
        .get("webhookEvent")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            body.pointer("/transition/transitionName")
                .map(|_| "jira:workflow_transition".to_owned())
        })
        .unwrap_or_else(|| "jira:unknown".to_owned());
    let ticket = exact_id_at(body, raw, "/issue/id")
        .or_else(|| {
            body.pointer("/comment/self")
                .and_then(Value::as_str)
                .and_then(issue_id_from_comment_self)
        })
        .or_else(|| exact_id_at(body, raw, "/id")); // Automation "Issue data (Automation format)"
    let is_comment_event = event_type.starts_with("comment_")
        || body.get("issue_event_type_name").and_then(Value::as_str) == Some("issue_commented");
    let dedupe = match (is_comment_event, exact_id_at(body, raw, "/comment/id")) {
        (true, Some(cid)) => {
            let updated = body
                .pointer("/comment/updated")
                .and_then(Value::as_str)
                .unwrap_or("");
            let verb = if event_type == "comment_deleted" {
                ":deleted"
            } else {
                ""
            };
            format!("jira-comment:{cid}:{updated}{verb}")
        }
        _ => match headers.get(JIRA_WEBHOOK_ID).and_then(|v| v.to_str().ok()) {
            Some(id) if !id.is_empty() => format!("jira-delivery:{id}"),
            _ => body_hash(raw),
        },
    };
    EventKeys {
        dedupe,
        ticket,
        event_type,
        number: id_at(body, "/issue/key"),
    }
}

/// `…/rest/api/2/issue/{issueId}/comment/{commentId}` → `issueId`.
fn issue_id_from_comment_self(url: &str) -> Option<String> {
    let mut parts = url.rsplit('/');
    let _comment_id = parts.next()?;
    if parts.next()? != "comment" {
        return None;
    }
    let issue = parts.next()?;
    (!issue.is_empty()).then(|| issue.to_owned())
}

fn servicenow_keys(body: &Value, raw: &[u8]) -> EventKeys {
    // Business rules commonly send the record at the top level or under `record`/`incident`.
    let prefix = ["", "/record", "/incident", "/current"]
        .into_iter()
        .find(|p| body.pointer(p).is_some_and(|r| r.get("sys_id").is_some()))
        .unwrap_or("");
    let at = |field: &str| exact_id_at(body, raw, &format!("{prefix}/{field}"));
    let sys_id = at("sys_id");
    let mod_count = at("sys_mod_count");
    let dedupe = match (&sys_id, &mod_count) {
        (Some(id), Some(n)) => format!("sn:{id}:{n}"),
        _ => body_hash(raw),
    };
    let event_type = body
        .get("operation")
        .or_else(|| body.get("event"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| match mod_count.as_deref() {
            Some("0") => "insert".to_owned(),
            _ => "update".to_owned(),
        });
    EventKeys {
        dedupe,
        ticket: sys_id,
        event_type,
        number: at("number"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn jira_comment_double_delivery_shares_a_key() {
        let c = json!({"id": "10400", "updated": "2025-05-14T11:20:30.087+0200",
                       "self": "https://j/rest/api/2/issue/10482/comment/10400"});
        let a = json!({"webhookEvent": "comment_created", "comment": c});
        let b = json!({"webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_commented",
                       "issue": {"id": "10482"}, "comment": c});
        let ka = default_keys(SourceKind::Jira, &HeaderMap::new(), &a, b"a");
        let kb = default_keys(SourceKind::Jira, &HeaderMap::new(), &b, b"b");
        assert_eq!(ka.dedupe, kb.dedupe);
        assert_eq!(ka.ticket.as_deref(), Some("10482"));
        assert_eq!(kb.ticket.as_deref(), Some("10482"));
    }

    #[test]
    fn jira_delivery_id_header_is_the_key() {
        let mut h = HeaderMap::new();
        h.insert(JIRA_WEBHOOK_ID, "abc-1".parse().unwrap());
        let k = default_keys(
            SourceKind::Jira,
            &h,
            &json!({"webhookEvent": "jira:issue_updated", "issue": {"id": 7}}),
            b"",
        );
        assert_eq!(k.dedupe, "jira-delivery:abc-1");
        assert_eq!(k.ticket.as_deref(), Some("7"));
        assert_eq!(k.number, None);
    }

    #[test]
    fn servicenow_key_is_sys_id_and_mod_count() {
        let k = default_keys(
            SourceKind::Servicenow,
            &HeaderMap::new(),
            &json!({"sys_id": "abc", "sys_mod_count": "3"}),
            b"",
        );
        assert_eq!(k.dedupe, "sn:abc:3");
        assert_eq!(k.ticket.as_deref(), Some("abc"));
        assert_eq!(k.event_type, "update");
    }

    #[test]
    fn events_differing_only_in_a_huge_sys_mod_count_are_not_duplicates() {
        let keys = |n: &str| {
            let raw = format!(r#"{{"record": {{"sys_id": "abc", "sys_mod_count": {n}}}}}"#);
            let body: Value = serde_json::from_str(&raw).unwrap();
            default_keys(
                SourceKind::Servicenow,
                &HeaderMap::new(),
                &body,
                raw.as_bytes(),
            )
        };
        let a = keys("123456789012345678901234567890");
        let b = keys("123456789012345678901234567891");
        assert_eq!(a.dedupe, "sn:abc:123456789012345678901234567890");
        assert_ne!(a.dedupe, b.dedupe);
        assert_eq!(a.event_type, "update");
        let raw =
            br#"{"webhookEvent": "jira:issue_updated", "issue": {"id": 100000000000000000000001}}"#;
        let body: Value = serde_json::from_slice(raw).unwrap();
        let k = default_keys(SourceKind::Jira, &HeaderMap::new(), &body, raw);
        assert_eq!(k.ticket.as_deref(), Some("100000000000000000000001"));
    }

    #[test]
    fn mapping_keys_and_templates_keep_a_huge_number_exact() {
        let yaml = "source: generic\nkeys:\n  dedupe: { path: rec.version }\n  ticket: { template: 'T-{{ rec.id }}' }\nroutes:\n  - when: { event: generic }\n    then:\n      - call: create_incident\n        set:\n          externalReference: { path: rec.ref }\n          shortDescription: { template: 'v{{ rec.version }}' }\n";
        let m =
            crate::mapping::Mapping::from_str(yaml, "t/generic.yaml", std::path::Path::new("."))
                .unwrap_or_else(|p| panic!("{p:?}"));
        let apply = |version: &str| {
            let raw = format!(
                r#"{{"rec": {{"id": 99999999999999999999999, "ref": "R1", "version": {version}}}}}"#
            );
            let body: Value = serde_json::from_str(&raw).unwrap();
            m.apply(&crate::mapping::Incoming {
                kind: SourceKind::Generic,
                headers: &HeaderMap::new(),
                body: &body,
                raw: raw.as_bytes(),
            })
            .unwrap()
        };
        let a = apply("123456789012345678901234567890");
        let b = apply("123456789012345678901234567891");
        assert_eq!(a.dedupe_key, "123456789012345678901234567890");
        assert_ne!(a.dedupe_key, b.dedupe_key);
        assert_eq!(a.ticket.as_deref(), Some("T-99999999999999999999999"));
        assert_eq!(
            a.calls[0].body["shortDescription"],
            "v123456789012345678901234567890"
        );
    }

    #[test]
    fn the_human_number_or_key_is_kept_beside_the_ticket_id() {
        let sn = default_keys(
            SourceKind::Servicenow,
            &HeaderMap::new(),
            &json!({"record": {"sys_id": "abc", "sys_mod_count": "0", "number": "INC0012345"}}),
            b"",
        );
        assert_eq!(sn.number.as_deref(), Some("INC0012345"));
        let jira = default_keys(
            SourceKind::Jira,
            &HeaderMap::new(),
            &json!({"webhookEvent": "jira:issue_created", "issue": {"id": "10482", "key": "OPS-1287"}}),
            b"",
        );
        assert_eq!(jira.ticket.as_deref(), Some("10482"));
        assert_eq!(jira.number.as_deref(), Some("OPS-1287"));
    }

    #[test]
    fn missing_fields_fall_back_to_body_hash() {
        let k = default_keys(SourceKind::Servicenow, &HeaderMap::new(), &json!({}), b"x");
        assert!(k.dedupe.starts_with("sha256:"));
        assert_eq!(k.ticket, None);
    }
}
