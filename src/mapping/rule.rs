//! Field rules: how one target field is computed from an event.
//!
//! Evaluation order, the same for every rule: source (`path`, `template`, `const`, `jq` or
//! `lookup`; a template none of whose `{{ }}` found a value counts as missing) → `transforms` → `table` → if the value is missing (absent, null or empty
//! string) or not in the table: `default`, else `on_missing` (`error`, the default; `skip`
//! leaves the field out; `null` writes null).

use std::collections::HashMap;

use serde_json::Value;

use super::jq::Jq;
use super::path::Path;
use super::template::Template;
use super::transform::Transform;
use super::{MapError, Scope};

/// Where a rule's value comes from.
#[derive(Debug)]
pub enum Source {
    Path(Path),
    Template(Template),
    Const(Value),
    Jq(Jq),
    Lookup(LookupRule),
}

/// A Core Information lookup, resolved at delivery time.
#[derive(Debug)]
pub struct LookupRule {
    pub collection: String,
    pub filters: Vec<(String, Template)>,
    pub field: String,
    /// Written when nothing matches; `None` fails the delivery.
    pub if_none: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    Error,
    Skip,
    Null,
}

/// A compiled field rule.
#[derive(Debug)]
pub struct Rule {
    pub source: Source,
    pub transforms: Vec<Transform>,
    pub table: Option<HashMap<String, Value>>,
    pub default: Option<Value>,
    pub on_missing: OnMissing,
    /// Where the rule is in the mapping file (`routes[0].then[0].set.impact`).
    pub at: String,
}

/// What a rule produced.
#[derive(Debug)]
pub enum Produced {
    Value(Value),
    /// Leave the field out.
    Skip,
    /// Resolve at delivery time: collection, filters, field, if_none.
    Lookup(crate::domain::Lookup),
}

fn missing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The text a value is matched by in tables and conditions (`1` and `"1"` are the same).
pub fn key_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        Value::Null => std::borrow::Cow::Borrowed(""),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

impl Rule {
    fn pointer(&self) -> String {
        match &self.source {
            Source::Path(p) => p.pointer(),
            _ => String::new(),
        }
    }

    fn err(&self, message: String) -> MapError {
        MapError {
            pointer: self.pointer(),
            rule: self.at.clone(),
            message,
            cause: super::MapCause::Rule,
        }
    }

    fn when_missing(&self, why: String) -> Result<Produced, MapError> {
        if let Some(d) = &self.default {
            return Ok(Produced::Value(d.clone()));
        }
        match self.on_missing {
            OnMissing::Skip => Ok(Produced::Skip),
            OnMissing::Null => Ok(Produced::Value(Value::Null)),
            OnMissing::Error => Err(self.err(why)),
        }
    }

    /// Evaluates the rule on an event; `target` is the body pointer lookups write to.
    pub fn eval(&self, scope: &Scope<'_>, target: &str) -> Result<Produced, MapError> {
        let raw = match &self.source {
            Source::Path(p) => p.get(scope).map(|v| v.to_value()),
            Source::Template(t) => match t.render_found(scope) {
                (text, true) => Some(Value::String(text)),
                (_, false) => None,
            },
            Source::Const(v) => return Ok(Produced::Value(v.clone())),
            Source::Jq(jq) => jq.run(scope.body).map_err(|m| self.err(m))?,
            Source::Lookup(l) => return self.lookup(l, scope, target),
        };
        let mut v = match raw {
            Some(v) if !missing(&v) => v,
            _ => return self.when_missing(self.missing_message()),
        };
        for t in &self.transforms {
            v = t
                .apply(v)
                .map_err(|m| self.err(format!("transform {t:?}: {m}")))?;
        }
        if missing(&v) {
            return self.when_missing(self.missing_message());
        }
        match &self.table {
            None => Ok(Produced::Value(v)),
            Some(table) => match table.get(key_text(&v).as_ref()) {
                Some(out) => Ok(Produced::Value(out.clone())),
                None => self.when_missing(format!(
                    "value {} is not in the table and the rule has no default",
                    serde_json::to_string(&v).unwrap_or_default()
                )),
            },
        }
    }

    fn missing_message(&self) -> String {
        match &self.source {
            Source::Path(p) => format!("no value at `{}` in the event", p.text),
            Source::Template(_) => "the template found no value in the event".into(),
            Source::Jq(j) => format!("jq `{}` produced no value", j.source),
            _ => "no value".into(),
        }
    }

    fn lookup(
        &self,
        l: &LookupRule,
        scope: &Scope<'_>,
        target: &str,
    ) -> Result<Produced, MapError> {
        let mut filters = Vec::with_capacity(l.filters.len());
        for (k, t) in &l.filters {
            let v = t.render(scope);
            if v.is_empty() {
                return self.when_missing(format!("lookup filter `{k}` rendered an empty string"));
            }
            filters.push((k.clone(), v));
        }
        Ok(Produced::Lookup(crate::domain::Lookup {
            target: target.to_owned(),
            collection: l.collection.clone(),
            filters,
            field: l.field.clone(),
            default: l.if_none.clone(),
        }))
    }
}
