//! Compiled value paths: where a rule reads in the event (`issue.fields.summary`,
//! `/issue/fields/summary`, `$event`, `$header.x-foo`) and where it writes in a request body
//! (`servicePoint.id`, `relatedEntity.0.id`).
//!
//! Paths are split once at compile time so applying a mapping never re-parses strings.

use serde_json::{Map, Value};

use super::Scope;

/// One step into a JSON value: an object key, or an array index (which also matches a key
/// spelled as digits, so `items.0` works on objects keyed `"0"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize, String),
}

impl Seg {
    /// The segment as written (a key, or an index's digits).
    pub fn text(&self) -> &str {
        match self {
            Seg::Key(k) | Seg::Index(_, k) => k,
        }
    }
}

/// Where a path starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// The event body.
    Body,
    /// `$event`: the event type (`jira:issue_created`, `insert`).
    Event,
    /// `$ticket`: the ticket key of the event.
    Ticket,
    /// `$header.name`: a request header (lower-cased name).
    Header(String),
}

/// A compiled read path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub root: Root,
    pub segs: Vec<Seg>,
    /// The path as written, for messages.
    pub text: String,
}

fn seg(s: &str) -> Seg {
    match s.parse::<usize>() {
        Ok(i) if !s.starts_with('+') => Seg::Index(i, s.to_owned()),
        _ => Seg::Key(s.to_owned()),
    }
}

/// Splits a dotted path or a JSON pointer into segments.
fn split(text: &str) -> Result<Vec<Seg>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(ptr) = text.strip_prefix('/') {
        return Ok(ptr
            .split('/')
            .map(|p| seg(&p.replace("~1", "/").replace("~0", "~")))
            .collect());
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{text}` is not a valid path (empty segment)"));
    }
    if let Some(bad) = parts
        .iter()
        .find(|p| p.chars().any(|c| c.is_whitespace() || "{}|\"'".contains(c)))
    {
        return Err(format!(
            "`{text}` is not a valid path (bad segment `{bad}`)"
        ));
    }
    Ok(parts.into_iter().map(seg).collect())
}

impl Path {
    /// Parses a read path.
    pub fn parse(text: &str) -> Result<Path, String> {
        let text = text.trim();
        let (root, rest) = if let Some(r) = text.strip_prefix('$') {
            match r {
                "event" => (Root::Event, ""),
                "ticket" => (Root::Ticket, ""),
                _ => match r.strip_prefix("header.") {
                    Some(h) if !h.is_empty() => (Root::Header(h.to_ascii_lowercase()), ""),
                    _ => {
                        return Err(format!(
                            "`{text}`: unknown variable (use $event, $ticket or $header.NAME)"
                        ));
                    }
                },
            }
        } else {
            (Root::Body, text)
        };
        if root == Root::Body && text.is_empty() {
            return Err("empty path".into());
        }
        Ok(Path {
            root,
            segs: split(rest)?,
            text: text.to_owned(),
        })
    }

    /// The value at this path, `None` when absent. JSON null is returned as is.
    pub fn get<'v>(&self, scope: &Scope<'v>) -> Option<Scoped<'v>> {
        match &self.root {
            Root::Body => get_in(scope.body, &self.segs).map(Scoped::Json),
            Root::Event => Some(Scoped::Str(scope.event_type)),
            Root::Ticket => scope.ticket.map(Scoped::Str),
            Root::Header(h) => scope
                .headers
                .and_then(|hs| hs.get(h.as_str()))
                .and_then(|v| v.to_str().ok())
                .map(Scoped::Str),
        }
    }

    /// The JSON pointer of this path in the event, for error messages.
    pub fn pointer(&self) -> String {
        match &self.root {
            Root::Body => pointer_of(&self.segs),
            _ => self.text.clone(),
        }
    }
}

/// A value found by a path: borrowed from the event or from the scope.
#[derive(Debug, Clone, Copy)]
pub enum Scoped<'v> {
    Json(&'v Value),
    Str(&'v str),
}

impl Scoped<'_> {
    pub fn to_value(self) -> Value {
        match self {
            Scoped::Json(v) => v.clone(),
            Scoped::Str(s) => Value::String(s.to_owned()),
        }
    }
}

pub fn get_in<'v>(mut v: &'v Value, segs: &[Seg]) -> Option<&'v Value> {
    for s in segs {
        v = match (s, v) {
            (Seg::Key(k), Value::Object(m)) => m.get(k)?,
            (Seg::Index(i, _), Value::Array(a)) => a.get(*i)?,
            (Seg::Index(_, k), Value::Object(m)) => m.get(k)?,
            _ => return None,
        };
    }
    Some(v)
}

pub fn pointer_of(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        out.push('/');
        let k = match s {
            Seg::Key(k) | Seg::Index(_, k) => k,
        };
        out.push_str(&k.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// A compiled write path in a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub segs: Vec<Seg>,
    pub text: String,
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        if text.starts_with('$') || text.trim().is_empty() {
            return Err(format!("`{text}` is not a valid target field"));
        }
        Ok(Target {
            segs: split(text.trim())?,
            text: text.to_owned(),
        })
    }

    pub fn pointer(&self) -> String {
        pointer_of(&self.segs)
    }

    /// Writes `value` at this path, creating objects (and arrays for index segments).
    /// Fails when an existing scalar is in the way.
    pub fn set(&self, body: &mut Value, value: Value) -> Result<(), String> {
        let mut cur = body;
        for (i, s) in self.segs.iter().enumerate() {
            let last = i + 1 == self.segs.len();
            let next_is_index = matches!(self.segs.get(i + 1), Some(Seg::Index(..)));
            let fresh = || {
                if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            };
            cur = match (s, cur) {
                (Seg::Index(idx, _), Value::Array(a)) => {
                    if a.len() <= *idx {
                        a.resize(*idx + 1, Value::Null);
                    }
                    let slot = &mut a[*idx];
                    if slot.is_null() && !last {
                        *slot = fresh();
                    }
                    slot
                }
                (Seg::Key(k) | Seg::Index(_, k), Value::Object(m)) => {
                    let slot = m.entry(k.clone()).or_insert(Value::Null);
                    if slot.is_null() && !last {
                        *slot = fresh();
                    }
                    slot
                }
                _ => return Err(format!("cannot set `{}`: a value is in the way", self.text)),
            };
        }
        *cur = value;
        Ok(())
    }
}
