//! Route conditions: event type, changed fields, field values.

use serde_json::Value;

use super::Scope;
use super::path::Path;
use super::rule::key_text;

/// A value test on one path.
#[derive(Debug)]
pub enum Test {
    Equals(Value),
    In(Vec<Value>),
    /// `exists: true` = present and not null/empty; `exists: false` = the opposite.
    Exists(bool),
    /// Glob: `*` any run of characters, `?` one character.
    Matches(String),
}

#[derive(Debug)]
pub struct Cond {
    pub path: Path,
    pub test: Test,
    pub negate: bool,
}

/// A route's `when`: every part given must hold.
#[derive(Debug, Default)]
pub struct When {
    /// Event type globs, any of which matches; empty = any event.
    pub events: Vec<String>,
    /// Field ids (lower case), any of which changed; empty = no condition.
    pub changed: Vec<String>,
    pub all: Vec<Cond>,
    pub any: Vec<Cond>,
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => a == b,
        _ => key_text(a) == key_text(b),
    }
}

impl Cond {
    pub fn holds(&self, scope: &Scope<'_>) -> bool {
        let v = self.path.get(scope).map(|s| s.to_value());
        let r = match (&self.test, &v) {
            (Test::Exists(want), _) => {
                let present = v.as_ref().is_some_and(|v| match v {
                    Value::Null => false,
                    Value::String(s) => !s.is_empty(),
                    _ => true,
                });
                present == *want
            }
            (_, None) => false,
            (Test::Equals(e), Some(v)) => same(e, v),
            (Test::In(list), Some(v)) => list.iter().any(|e| same(e, v)),
            (Test::Matches(g), Some(v)) => glob(g, &key_text(v)),
        };
        r != self.negate
    }
}

impl When {
    pub fn holds(&self, scope: &Scope<'_>, changed: &[String]) -> bool {
        (self.events.is_empty() || self.events.iter().any(|g| glob(g, scope.event_type)))
            && (self.changed.is_empty()
                || self.changed.iter().any(|f| changed.iter().any(|c| c == f)))
            && self.all.iter().all(|c| c.holds(scope))
            && (self.any.is_empty() || self.any.iter().any(|c| c.holds(scope)))
    }
}

/// The fields an event says it changed, lower-cased: Jira `changelog.items[].fieldId` (else
/// `field`); otherwise a `changed_fields` list (or comma-separated string) at the top level or
/// under `record`, as a ServiceNow business rule can send with `current.changes()` checks.
pub fn changed_fields(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(items) = body.pointer("/changelog/items").and_then(Value::as_array) {
        for it in items {
            let name = it
                .get("fieldId")
                .and_then(Value::as_str)
                .or_else(|| it.get("field").and_then(Value::as_str));
            if let Some(n) = name {
                out.push(n.to_lowercase());
            }
        }
    }
    let list = body
        .get("changed_fields")
        .or_else(|| body.pointer("/record/changed_fields"));
    match list {
        Some(Value::Array(a)) => {
            out.extend(a.iter().filter_map(Value::as_str).map(str::to_lowercase))
        }
        Some(Value::String(s)) => out.extend(
            s.split(',')
                .map(|f| f.trim().to_lowercase())
                .filter(|f| !f.is_empty()),
        ),
        _ => {}
    }
    out
}

/// Glob match on characters: `*` any run, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == text;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn glob_matches_stars_and_marks() {
        assert!(glob("jira:issue_*", "jira:issue_created"));
        assert!(glob("*ted", "created"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("insert", "insert"));
        assert!(!glob("insert", "update"));
    }

    #[test]
    fn changed_fields_come_from_changelog_or_list() {
        let j = json!({"changelog": {"items": [{"field": "Status", "fieldId": "status"}, {"field": "Priority"}]}});
        assert_eq!(changed_fields(&j), ["status", "priority"]);
        let s = json!({"changed_fields": "state, work_notes"});
        assert_eq!(changed_fields(&s), ["state", "work_notes"]);
    }
}
