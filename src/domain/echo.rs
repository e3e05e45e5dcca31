//! Echo suppression: recognising webhooks caused by the gateway's own write-backs.
//!
//! When the poller pushes an Orange change into ServiceNow or Jira, the customer's business
//! rule or webhook fires back at the gateway. Such an event must be acknowledged without
//! effect, or an Orange note would bounce back to Orange as a "new" customer comment.
//!
//! Two independent signals, both pure (the ingress does the store look-up):
//! - the actor: the tenant's integration user (ServiceNow `sys_updated_by`) or integration
//!   account (Jira `user.accountId` / `user.name`, or `comment.author`);
//! - fingerprints of what the gateway wrote, kept by the store (`Store::is_echo`): Jira
//!   comment ids (`jira-comment:<id>`) and hashes of ServiceNow journal text
//!   (`sn-note:<sha256>`), computed by the writer and by [`echo_check`] with the same
//!   [`sn_note_fingerprint`].

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::SourceKind;

/// Prefix of a Jira comment fingerprint.
pub const JIRA_COMMENT_PREFIX: &str = "jira-comment:";
/// Prefix of a ServiceNow journal text fingerprint.
pub const SN_NOTE_PREFIX: &str = "sn-note:";

/// What ingress needs to decide whether a webhook is an echo of the gateway's own write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoCheck {
    /// The event's actor is the tenant's integration user/account: drop it without a look-up.
    pub by_integration: bool,
    /// Fingerprints to test with `Store::is_echo`; any hit makes the event an echo.
    pub fingerprints: Vec<String>,
}

impl EchoCheck {
    /// True when the actor alone settles it; otherwise look up the fingerprints.
    pub fn is_certain(&self) -> bool {
        self.by_integration
    }
}

/// Inspects a webhook body for signs that the gateway caused it.
///
/// `integration` is the tenant's `itsm.servicenow.integration_user` (ServiceNow sources) or
/// `itsm.jira.integration_account` (Jira sources); `None` disables the actor check. Generic
/// sources are never echoes.
pub fn echo_check(kind: SourceKind, integration: Option<&str>, event: &Value) -> EchoCheck {
    match kind {
        SourceKind::Jira => jira(integration, event),
        SourceKind::Servicenow => servicenow(integration, event),
        SourceKind::Generic => EchoCheck::default(),
    }
}

/// The actor of a Jira event: `user` (issue events; absent on Cloud and Data Center comment
/// events), else the comment's `updateAuthor` (who made this version of it: a customer
/// editing the gateway's comment is not an echo), else its `author`.
fn jira(integration: Option<&str>, event: &Value) -> EchoCheck {
    let actor = ["/user", "/comment/updateAuthor", "/comment/author"]
        .into_iter()
        .find_map(|p| event.pointer(p).filter(|u| u.is_object()));
    let ids: Vec<&str> = actor
        .into_iter()
        .flat_map(|u| ["accountId", "name", "key"].map(|k| u.get(k).and_then(Value::as_str)))
        .flatten()
        .collect();
    // Data Center user names are case-insensitive (Jira keeps them lower-cased); Cloud
    // account ids are opaque and never differ by case alone.
    let by_integration = match integration.map(str::trim) {
        Some(i) if !i.is_empty() => ids.iter().any(|a| a.trim().eq_ignore_ascii_case(i)),
        _ => false,
    };
    let fingerprints = event
        .pointer("/comment/id")
        .and_then(id_string)
        .map(|id| vec![jira_comment_fingerprint(&id)])
        .unwrap_or_default();
    EchoCheck {
        by_integration,
        fingerprints,
    }
}

fn servicenow(integration: Option<&str>, event: &Value) -> EchoCheck {
    // Customers build the payload themselves; look at the top level and under `record`/
    // `current` (the two shapes the mappings ship with).
    let roots = [Some(event), event.get("record"), event.get("current")];
    let mut actors = Vec::new();
    let mut fingerprints = Vec::new();
    for root in roots.into_iter().flatten() {
        if let Some(s) = root.get("sys_updated_by").and_then(Value::as_str) {
            actors.push(s);
        }
        for field in ["work_notes", "comments"] {
            if let Some(text) = root.get(field).and_then(Value::as_str)
                && !normalize_note(text).is_empty()
            {
                fingerprints.push(sn_note_fingerprint(strip_journal_header(text)));
            }
        }
    }
    fingerprints.dedup();
    EchoCheck {
        by_integration: matches_actor(integration, &actors),
        fingerprints,
    }
}

fn matches_actor(integration: Option<&str>, actors: &[&str]) -> bool {
    match integration.map(str::trim) {
        Some(i) if !i.is_empty() => actors.iter().any(|a| a.trim() == i),
        _ => false,
    }
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `jira-comment:<id>`.
pub fn jira_comment_fingerprint(id: &str) -> String {
    format!("{JIRA_COMMENT_PREFIX}{id}")
}

/// `sn-note:<hex sha256 of the normalized text>`; the writer and the ingress both use it.
pub fn sn_note_fingerprint(text: &str) -> String {
    let digest = Sha256::digest(normalize_note(text).as_bytes());
    format!("{SN_NOTE_PREFIX}{}", hex::encode(digest))
}

/// Normalization that survives ServiceNow's round trip of journal text: line endings unified
/// (the UI keeps `\r\n`), trailing spaces per line and surrounding blank lines dropped.
pub fn normalize_note(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = unified.lines().map(str::trim_end).collect();
    lines.join("\n").trim().to_owned()
}

/// `getJournalEntry(1)` returns `<timestamp> - <user> (Work notes)\n<text>`: drop that header
/// so the hash covers only what the gateway wrote.
fn strip_journal_header(text: &str) -> &str {
    let trimmed = text.trim_start();
    if let Some((first, rest)) = trimmed.split_once('\n') {
        let first = first.trim_end();
        if first.ends_with("(Work notes)") || first.ends_with("(Additional comments)") {
            return rest;
        }
    }
    trimmed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn jira_event_by_the_integration_account_is_an_echo() {
        let ev = json!({"webhookEvent":"comment_created","user":{"accountId":"bridge-1"}});
        let c = echo_check(SourceKind::Jira, Some("bridge-1"), &ev);
        assert!(c.by_integration);
        let c = echo_check(SourceKind::Jira, Some("someone-else"), &ev);
        assert!(!c.by_integration);
    }

    #[test]
    fn jira_comment_author_and_id_are_both_checked() {
        let ev = json!({"comment":{"id":"10042","author":{"name":"svc-bridge"}}});
        let c = echo_check(SourceKind::Jira, Some("svc-bridge"), &ev);
        assert!(c.by_integration);
        assert_eq!(c.fingerprints, vec!["jira-comment:10042".to_owned()]);
        let numeric = json!({"comment":{"id":10042}});
        let c = echo_check(SourceKind::Jira, None, &numeric);
        assert!(!c.by_integration);
        assert_eq!(c.fingerprints, vec!["jira-comment:10042".to_owned()]);
    }

    #[test]
    fn jira_data_center_echoes_are_recognised_by_user_name_in_any_case() {
        // DC comment events carry only `comment`; issue events carry `user`.
        let comment = json!({"webhookEvent":"comment_created","comment":{"id":"20011",
            "self":"https://j/rest/api/2/issue/10482/comment/20011",
            "author":{"name":"svc-bridge","key":"JIRAUSER10400"},
            "updateAuthor":{"name":"svc-bridge","key":"JIRAUSER10400"}}});
        assert!(echo_check(SourceKind::Jira, Some("SVC-Bridge"), &comment).by_integration);
        let transition = json!({"webhookEvent":"jira:issue_updated","issue_event_type_name":"issue_generic",
            "user":{"name":"svc-bridge","key":"JIRAUSER10400"},"issue":{"id":"10482"},
            "changelog":{"id":"30001","items":[{"field":"status","from":"3","to":"5"}]}});
        assert!(echo_check(SourceKind::Jira, Some("svc-bridge"), &transition).by_integration);
    }

    #[test]
    fn a_customer_editing_the_gateways_comment_is_not_an_echo_by_actor() {
        let ev = json!({"webhookEvent":"comment_updated","comment":{"id":"20011",
            "author":{"accountId":"bridge-1"},"updateAuthor":{"accountId":"customer-7"}}});
        let c = echo_check(SourceKind::Jira, Some("bridge-1"), &ev);
        assert!(!c.by_integration);
        // A customer's issue event that quotes the gateway's comment is the customer's.
        let ev = json!({"webhookEvent":"jira:issue_updated","user":{"accountId":"customer-7"},
            "comment":{"id":"20011","author":{"accountId":"bridge-1"}}});
        assert!(!echo_check(SourceKind::Jira, Some("bridge-1"), &ev).by_integration);
    }

    #[test]
    fn servicenow_update_by_integration_user_is_an_echo() {
        let ev = json!({"sys_id":"a","sys_updated_by":"orange.bridge","state":"2"});
        assert!(echo_check(SourceKind::Servicenow, Some("orange.bridge"), &ev).by_integration);
        assert!(!echo_check(SourceKind::Servicenow, None, &ev).by_integration);
        assert!(!echo_check(SourceKind::Servicenow, Some(""), &ev).by_integration);
    }

    #[test]
    fn servicenow_note_fingerprint_survives_journal_header_and_crlf() {
        let written = "[Orange INC-1] Line card replaced.\nMonitoring.";
        let fp = sn_note_fingerprint(written);
        let ev = json!({"record":{"work_notes":
            "2026-11-22 10:00:00 - Orange Bridge (Work notes)\r\n[Orange INC-1] Line card replaced.  \r\nMonitoring.\r\n"}});
        let c = echo_check(SourceKind::Servicenow, None, &ev);
        assert_eq!(c.fingerprints, vec![fp]);
    }

    #[test]
    fn generic_sources_and_empty_notes_give_nothing_to_check() {
        let ev = json!({"work_notes":"  ","user":{"accountId":"x"}});
        assert_eq!(
            echo_check(SourceKind::Generic, Some("x"), &ev),
            EchoCheck::default()
        );
        assert!(
            echo_check(SourceKind::Servicenow, None, &ev)
                .fingerprints
                .is_empty()
        );
    }
}
