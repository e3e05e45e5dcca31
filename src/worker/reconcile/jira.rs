//! The pure half of Jira reconciliation: where a run starts (JQL and instant, from the stored
//! watermark), what the gateway already received for a ticket, and the webhook events an
//! issue read by search stands for that were never received.
//!
//! JQL dates have minute precision and are read in the searching user's time zone. The
//! watermark is the newest `updated` ingested, as Jira rendered it for that user
//! (`2025-05-14T11:20:30.087+0200`), so its own offset renders the next start in the user's
//! zone; the very first run has no such date and asks relatively (`updated >= "-60m"`).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::domain::Timestamp;
use crate::mapping::keys::id_at;

/// Where a run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// `updated >= "…" ORDER BY updated ASC`.
    pub jql: String,
    /// The instant the JQL stands for: changes before it are not repaired.
    pub from: Timestamp,
}

/// A Jira date (`2025-05-14T11:20:30.087+0200`, fraction optional), keeping its offset.
pub fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let f = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(s, &f).ok()
}

fn jql_from(at: OffsetDateTime) -> String {
    let f = format_description!("[year]/[month]/[day] [hour]:[minute]");
    format!(
        r#"updated >= "{}" ORDER BY updated ASC"#,
        at.format(&f).unwrap_or_default()
    )
}

/// The start of a run: `overlap` before the watermark, floored to the minute in the
/// watermark's own offset; or, without a watermark, `lookback` before `now`.
pub fn start(
    watermark: Option<&str>,
    now: Timestamp,
    lookback: Duration,
    overlap: Duration,
) -> Start {
    match watermark.and_then(parse_date) {
        Some(mark) => {
            let at = floor_minute(mark - overlap);
            Start {
                jql: jql_from(at),
                from: at.to_offset(UtcOffset::UTC),
            }
        }
        None => {
            let minutes = lookback.as_secs().div_ceil(60).max(1);
            Start {
                jql: format!(r#"updated >= "-{minutes}m" ORDER BY updated ASC"#),
                from: now - Duration::from_secs(minutes * 60),
            }
        }
    }
}

/// The JQL that continues a scan after an issue updated at `updated` (keyset by minute: the
/// order of what remains cannot shift under an offset while issues change).
pub fn continue_from(updated: &str) -> Option<String> {
    parse_date(updated).map(|t| jql_from(floor_minute(t)))
}

fn floor_minute(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(t)
}

/// True when Jira date `a` is later than `b` (unparsable dates are never later).
pub fn is_later(a: &str, b: Option<&str>) -> bool {
    match (parse_date(a), b.and_then(parse_date)) {
        (Some(x), Some(y)) => x > y,
        (Some(_), None) => true,
        _ => false,
    }
}

/// What the gateway already holds for one ticket, read from its stored events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub created: bool,
    pub comments: HashSet<String>,
    pub changelogs: HashSet<String>,
}

impl Received {
    pub fn add(&mut self, body: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        if v.get("webhookEvent").and_then(Value::as_str) == Some("jira:issue_created") {
            self.created = true;
        }
        if let Some(id) = id_at(&v, "/comment/id") {
            self.comments.insert(id);
        }
        if let Some(id) = id_at(&v, "/changelog/id") {
            self.changelogs.insert(id);
        }
    }
}

/// A webhook event that was never received, rebuilt from the issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    pub body: Value,
    /// Sent as `X-Atlassian-Webhook-Identifier`: `sync:<issue id>:<what>`, so a re-run keys
    /// the event as the first run did.
    pub delivery_id: String,
    pub at: OffsetDateTime,
}

fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
}

/// The events `issue` (a search result with `fields.comment` and `changelog`) stands for that
/// were not received, oldest first: its creation (unless linked or received), changelog
/// histories and new comments from `from` on.
pub fn synthesize(
    issue: &Value,
    from: Timestamp,
    received: &Received,
    linked: bool,
) -> Vec<Synthetic> {
    let Some(id) = id_at(issue, "/id") else {
        return vec![];
    };
    let mut snapshot = issue.clone();
    if let Some(o) = snapshot.as_object_mut() {
        o.remove("changelog");
    }
    let since = |s: Option<&str>| s.and_then(parse_date).filter(|t| *t >= from);
    // A changelog entry's or a comment's id and creation time, when it is not older than `from`.
    let entry = |v: &Value| {
        Some((
            id_at(v, "/id")?,
            since(v.get("created").and_then(Value::as_str))?,
        ))
    };
    let mut out = Vec::new();
    if !linked
        && !received.created
        && let Some(at) = since(issue.pointer("/fields/created").and_then(Value::as_str))
    {
        let user = issue
            .pointer("/fields/creator")
            .or_else(|| issue.pointer("/fields/reporter"))
            .cloned()
            .unwrap_or(Value::Null);
        let mut body = json!({"timestamp": millis(at), "webhookEvent": "jira:issue_created",
            "issue_event_type_name": "issue_created", "issue": snapshot});
        if !user.is_null() {
            body["user"] = user;
        }
        out.push(Synthetic {
            body,
            delivery_id: format!("sync:{id}:created"),
            at,
        });
    }
    let histories = issue
        .pointer("/changelog/histories")
        .and_then(Value::as_array);
    for h in histories.into_iter().flatten() {
        let Some((hid, at)) = entry(h) else {
            continue;
        };
        if received.changelogs.contains(&hid) {
            continue;
        }
        let transition = h["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|x| x["field"] == "status"));
        let kind = if transition {
            "issue_generic"
        } else {
            "issue_updated"
        };
        out.push(Synthetic {
            body: json!({"timestamp": millis(at), "webhookEvent": "jira:issue_updated",
                "issue_event_type_name": kind, "user": h["author"], "issue": snapshot,
                "changelog": {"id": hid, "items": h["items"]}}),
            delivery_id: format!("sync:{id}:changelog:{hid}"),
            at,
        });
    }
    let comments = issue
        .pointer("/fields/comment/comments")
        .and_then(Value::as_array);
    let trimmed = json!({"id": id, "key": issue["key"], "self": issue["self"], "fields": {
        "summary": issue["fields"]["summary"], "issuetype": issue["fields"]["issuetype"],
        "project": issue["fields"]["project"], "priority": issue["fields"]["priority"],
        "status": issue["fields"]["status"]}});
    for c in comments.into_iter().flatten() {
        let Some((cid, at)) = entry(c) else {
            continue;
        };
        if received.comments.contains(&cid) {
            continue;
        }
        out.push(Synthetic {
            body: json!({"timestamp": millis(at), "webhookEvent": "comment_created",
                "comment": c, "issue": trimmed}),
            delivery_id: format!("sync:{id}:comment:{cid}"),
            at,
        });
    }
    // Stable: a creation sorts before what happened in the same millisecond.
    out.sort_by_key(|s| s.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        parse_date(s).unwrap().to_offset(UtcOffset::UTC)
    }

    fn issue() -> Value {
        json!({"id": "10482", "key": "OPS-1", "fields": {
            "summary": "down", "created": "2026-01-02T11:00:00.000+0200",
            "reporter": {"name": "marie"},
            "comment": {"comments": [
                {"id": "1", "created": "2026-01-02T11:05:00.000+0200", "author": {"name": "marie"}, "body": "old one"},
                {"id": "2", "created": "2026-01-02T11:10:00.000+0200", "author": {"name": "marie"}, "body": "new one"}]}},
            "changelog": {"histories": [
                {"id": "300", "created": "2026-01-02T11:07:00.000+0200", "author": {"name": "marie"},
                 "items": [{"field": "priority", "toString": "Highest"}]}]}})
    }

    #[test]
    fn first_run_looks_back_relatively_and_later_ones_start_before_the_watermark_in_its_zone() {
        let now = ts("2026-01-02T12:00:00.000+0000");
        let s = start(
            None,
            now,
            Duration::from_secs(3600),
            Duration::from_secs(120),
        );
        assert_eq!(s.jql, r#"updated >= "-60m" ORDER BY updated ASC"#);
        assert_eq!(s.from, ts("2026-01-02T11:00:00.000+0000"));
        let s = start(
            Some("2026-01-02T11:20:30.087+0200"),
            now,
            Duration::from_secs(3600),
            Duration::from_secs(120),
        );
        assert_eq!(
            s.jql,
            r#"updated >= "2026/01/02 11:18" ORDER BY updated ASC"#
        );
        assert_eq!(s.from, ts("2026-01-02T09:18:00.000+0000"));
        assert_eq!(
            continue_from("2026-01-02T11:20:30.087+0200").as_deref(),
            Some(r#"updated >= "2026/01/02 11:20" ORDER BY updated ASC"#)
        );
    }

    #[test]
    fn an_unlinked_new_issue_gives_its_creation_then_its_changes_in_order() {
        let got = synthesize(
            &issue(),
            ts("2026-01-02T08:00:00.000+0000"),
            &Received::default(),
            false,
        );
        let kinds: Vec<_> = got
            .iter()
            .map(|s| {
                (
                    s.body["webhookEvent"].as_str().unwrap(),
                    s.delivery_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("jira:issue_created", "sync:10482:created"),
                ("comment_created", "sync:10482:comment:1"),
                ("jira:issue_updated", "sync:10482:changelog:300"),
                ("comment_created", "sync:10482:comment:2"),
            ]
        );
        assert_eq!(got[0].body["user"]["name"], "marie");
        assert!(got[0].body["issue"].get("changelog").is_none());
        assert_eq!(got[2].body["changelog"]["items"][0]["field"], "priority");
        assert_eq!(got[3].body["issue"]["id"], "10482");
    }

    #[test]
    fn what_was_received_or_is_older_than_the_start_is_not_synthesized() {
        let mut r = Received::default();
        r.add(br#"{"webhookEvent":"jira:issue_created","issue":{"id":"10482"}}"#);
        r.add(br#"{"webhookEvent":"comment_created","comment":{"id":"2"}}"#);
        r.add(br#"{"webhookEvent":"jira:issue_updated","changelog":{"id":300}}"#);
        assert!(r.created);
        let got = synthesize(&issue(), ts("2026-01-02T09:06:00.000+0000"), &r, false);
        assert!(got.is_empty(), "{got:?}");
        // Linked but nothing else received: the changes after the start, no creation.
        let got = synthesize(
            &issue(),
            ts("2026-01-02T09:06:00.000+0000"),
            &Received::default(),
            true,
        );
        let ids: Vec<_> = got.iter().map(|s| s.delivery_id.as_str()).collect();
        assert_eq!(ids, ["sync:10482:changelog:300", "sync:10482:comment:2"]);
    }
}
