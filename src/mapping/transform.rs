//! Text transforms of the field-rule pipeline: trim, case, truncation by characters, Jira wiki
//! and ADF to plain text and back, ServiceNow journal entries, and ITSM dates to RFC 3339.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// One compiled transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    Trim,
    Lower,
    Upper,
    /// Keep at most N characters (Unicode scalar values, never splitting one).
    Truncate(usize),
    WikiToPlain,
    PlainToWiki,
    AdfToPlain,
    PlainToAdf,
    /// ServiceNow `YYYY-MM-DD HH:MM:SS` (UTC) → RFC 3339.
    ServicenowDate,
    /// Jira `2025-05-14T11:20:30.087+0200` → RFC 3339 in UTC.
    JiraDate,
    /// ServiceNow `getJournalEntry(1)` text without its `<date> - <user> (Work notes)` header.
    JournalText,
    /// Any scalar → string.
    String,
    /// A numeric string → number.
    Number,
}

/// Names accepted in mapping files (`transforms: [trim, {truncate: 80}]`).
pub const NAMES: &[&str] = &[
    "trim",
    "lower",
    "upper",
    "truncate",
    "wiki_to_plain",
    "plain_to_wiki",
    "adf_to_plain",
    "plain_to_adf",
    "servicenow_date",
    "jira_date",
    "journal_text",
    "string",
    "number",
];

impl Transform {
    pub fn by_name(name: &str) -> Option<Transform> {
        Some(match name {
            "trim" => Self::Trim,
            "lower" => Self::Lower,
            "upper" => Self::Upper,
            "wiki_to_plain" => Self::WikiToPlain,
            "plain_to_wiki" => Self::PlainToWiki,
            "adf_to_plain" => Self::AdfToPlain,
            "plain_to_adf" => Self::PlainToAdf,
            "servicenow_date" => Self::ServicenowDate,
            "jira_date" => Self::JiraDate,
            "journal_text" => Self::JournalText,
            "string" => Self::String,
            "number" => Self::Number,
            _ => return None,
        })
    }

    /// Applies the transform. Null passes through untouched.
    pub fn apply(&self, v: Value) -> Result<Value, String> {
        if v.is_null() {
            return Ok(v);
        }
        if *self == Self::AdfToPlain {
            return Ok(Value::String(match &v {
                Value::String(s) => s.clone(),
                other => adf_to_plain(other),
            }));
        }
        let s = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(format!("expects text, got {}", kind(&other))),
        };
        Ok(match self {
            Self::Trim => Value::String(s.trim().to_owned()),
            Self::Lower => Value::String(s.to_lowercase()),
            Self::Upper => Value::String(s.to_uppercase()),
            Self::Truncate(n) => Value::String(truncate(s, *n)),
            Self::WikiToPlain => Value::String(wiki_to_plain(&s)),
            Self::PlainToWiki => Value::String(plain_to_wiki(&s)),
            Self::PlainToAdf => plain_to_adf(&s),
            Self::ServicenowDate => Value::String(servicenow_date(&s)?),
            Self::JiraDate => Value::String(jira_date(&s)?),
            Self::JournalText => Value::String(journal_text(&s)),
            Self::String | Self::AdfToPlain => Value::String(s),
            Self::Number => {
                let t = s.trim();
                serde_json::from_str::<serde_json::Number>(t)
                    .map(Value::Number)
                    .map_err(|_| format!("`{t}` is not a number"))?
            }
        })
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn truncate(mut s: String, n: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(n) {
        s.truncate(i);
    }
    s
}

fn servicenow_date(s: &str) -> Result<String, String> {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let dt = PrimitiveDateTime::parse(s.trim(), f)
        .map_err(|_| format!("`{s}` is not a ServiceNow date (YYYY-MM-DD HH:MM:SS)"))?;
    dt.assume_utc()
        .format(&Rfc3339)
        .map_err(|e| format!("cannot format `{s}`: {e}"))
}

fn jira_date(s: &str) -> Result<String, String> {
    let bad = || format!("`{s}` is not a Jira date (2025-05-14T11:20:30.087+0200)");
    let s = s.trim();
    if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
        return to_utc(dt).ok_or_else(bad);
    }
    // The offset is the last 5 characters (`+0200`); the fraction has 0–9 digits.
    let split = s
        .len()
        .checked_sub(5)
        .filter(|&i| s.is_char_boundary(i))
        .ok_or_else(bad)?;
    let (local, off) = s.split_at(split);
    let sign = match off.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let hh: i8 = off.get(1..3).and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let mm: i8 = off.get(3..5).and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let offset = UtcOffset::from_hms(sign * hh, sign * mm, 0).map_err(|_| bad())?;
    let f = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let dt = PrimitiveDateTime::parse(local, f).map_err(|_| bad())?;
    to_utc(dt.assume_offset(offset)).ok_or_else(bad)
}

fn to_utc(dt: OffsetDateTime) -> Option<String> {
    dt.to_offset(UtcOffset::UTC).format(&Rfc3339).ok()
}

/// Drops the header line `2025-05-14 11:25:03 - Jane Doe (Work notes)` of a journal entry.
fn journal_text(s: &str) -> String {
    let mut lines = s.splitn(2, '\n');
    let first = lines.next().unwrap_or("");
    let looks_like_header = first.trim_end().ends_with(')')
        && first.contains(" - ")
        && first.chars().next().is_some_and(|c| c.is_ascii_digit());
    if looks_like_header {
        lines.next().unwrap_or("").trim().to_owned()
    } else {
        s.trim().to_owned()
    }
}

/// Jira wiki markup → plain text: drops formatting marks, keeps text, links as `text (url)`.
pub fn wiki_to_plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (n, line) in s.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let line = line.trim_end_matches('\r');
        let line = strip_block_prefix(line);
        inline_wiki(line, &mut out);
    }
    out.trim().to_owned()
}

fn strip_block_prefix(line: &str) -> &str {
    for p in ["h1. ", "h2. ", "h3. ", "h4. ", "h5. ", "h6. ", "bq. "] {
        if let Some(r) = line.strip_prefix(p) {
            return r;
        }
    }
    line
}

fn inline_wiki(line: &str, out: &mut String) {
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        match c {
            '{' => {
                // {code}, {noformat}, {quote}, {color:red} … {color}: drop the macro tags.
                if let Some(end) = rest.find('}') {
                    let tag = &rest[1..end];
                    if !tag.is_empty()
                        && tag
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || ":#=|;.-_ ".contains(c))
                    {
                        rest = &rest[end + 1..];
                        continue;
                    }
                }
                out.push(c);
            }
            '[' => {
                if let Some(end) = rest.find(']') {
                    let inner = &rest[1..end];
                    match inner.split_once('|') {
                        Some((text, url)) => {
                            out.push_str(text);
                            out.push_str(" (");
                            out.push_str(url);
                            out.push(')');
                        }
                        None => out.push_str(inner.trim_start_matches('~')),
                    }
                    rest = &rest[end + 1..];
                    continue;
                }
                out.push(c);
            }
            '*' | '_' | '+' | '^' | '~' => {
                // A mark only when it hugs a word (`*bold*`); `2 * 3` keeps its star.
                let next = rest[c.len_utf8()..].chars().next();
                let prev = out.chars().last();
                let opening = next.is_some_and(|n| !n.is_whitespace())
                    && prev.is_none_or(|p| !p.is_alphanumeric());
                let closing = prev.is_some_and(|p| !p.is_whitespace())
                    && next.is_none_or(|n| !n.is_alphanumeric());
                if !(opening || closing) || (c == '*' && out.trim().is_empty() && next == Some(' '))
                {
                    out.push(c);
                }
            }
            '\\' if rest.starts_with("\\\\") => {
                out.push('\n');
                rest = &rest[2..];
                continue;
            }
            _ => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
}

/// Plain text → Jira wiki: escapes the characters wiki would interpret.
pub fn plain_to_wiki(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "{}[]*_+^~|".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Atlassian Document Format → plain text.
pub fn adf_to_plain(v: &Value) -> String {
    let mut out = String::new();
    adf_walk(v, &mut out);
    out.trim().to_owned()
}

fn adf_walk(v: &Value, out: &mut String) {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "text" => out.push_str(v.get("text").and_then(Value::as_str).unwrap_or("")),
        "hardBreak" => out.push('\n'),
        "mention" | "emoji" | "status" => {
            if let Some(t) = v.pointer("/attrs/text").and_then(Value::as_str) {
                out.push_str(t);
            }
        }
        _ => {}
    }
    if ty == "listItem" {
        out.push_str("- ");
    }
    if let Some(children) = v.get("content").and_then(Value::as_array) {
        for c in children {
            adf_walk(c, out);
        }
    }
    if matches!(
        ty,
        "paragraph" | "heading" | "codeBlock" | "blockquote" | "rule"
    ) && !out.ends_with('\n')
    {
        out.push('\n');
    }
}

/// Plain text → ADF document: one paragraph per line block, hard breaks inside.
pub fn plain_to_adf(s: &str) -> Value {
    let paragraphs: Vec<Value> = s
        .replace("\r\n", "\n")
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(crate::domain::adf::paragraph)
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tr: Transform, v: Value) -> Value {
        tr.apply(v).unwrap()
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(t(Transform::Truncate(3), json!("héllo")), json!("hél"));
        assert_eq!(t(Transform::Truncate(9), json!("été")), json!("été"));
    }

    #[test]
    fn dates_become_rfc3339_utc() {
        assert_eq!(
            t(Transform::ServicenowDate, json!("2025-05-14 09:20:30")),
            json!("2025-05-14T09:20:30Z")
        );
        assert_eq!(
            t(Transform::JiraDate, json!("2025-05-14T11:20:30.087+0200")),
            json!("2025-05-14T09:20:30.087Z")
        );
        assert_eq!(
            t(Transform::JiraDate, json!("2025-05-14T06:14:22.0+0000")),
            json!("2025-05-14T06:14:22Z")
        );
        assert!(
            Transform::ServicenowDate
                .apply(json!("14/05/2025"))
                .unwrap_err()
                .contains("not a ServiceNow date")
        );
        assert!(Transform::JiraDate.apply(json!("é")).is_err());
    }

    #[test]
    fn wiki_and_adf_become_plain_text() {
        assert_eq!(
            wiki_to_plain(
                "h2. Impact\n*All* sites _down_, see [runbook|https://x/rb]\n{code}ping{code}"
            ),
            "Impact\nAll sites down, see runbook (https://x/rb)\nping"
        );
        assert_eq!(wiki_to_plain("2 * 3 = 6"), "2 * 3 = 6");
        let adf = plain_to_adf("line one\nline two\n\nsecond");
        assert_eq!(adf_to_plain(&adf), "line one\nline two\nsecond");
        assert_eq!(plain_to_wiki("a*b"), "a\\*b");
    }

    #[test]
    fn journal_header_is_dropped() {
        let s = "2025-05-14 11:25:03 - System Administrator (Work notes)\nRouter rebooted";
        assert_eq!(
            t(Transform::JournalText, json!(s)),
            json!("Router rebooted")
        );
        assert_eq!(t(Transform::JournalText, json!("plain")), json!("plain"));
    }
}
