//! A small string template engine: `"{{ issue.key }}: {{ issue.fields.summary }}"`.
//!
//! Compiled once into literal and path pieces; rendering is a single pass that appends to one
//! `String`. Only value substitution is supported, on purpose: logic belongs in `when`, tables
//! or (rarely) `jq`, where it can be reviewed. A missing or null value renders as an empty
//! string; strings render bare, other JSON values as compact JSON.

use std::fmt::Write as _;

use serde_json::Value;

use super::Scope;
use super::path::{Path, Scoped};

#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    Var(Path),
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Compiles a template; `{{` must be closed by `}}` around a path. `{{{{` is a literal `{{`.
    pub fn compile(src: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(open) = rest.find("{{") {
            lit.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            if let Some(esc) = after.strip_prefix("{{") {
                lit.push_str("{{");
                rest = esc;
                continue;
            }
            let Some(close) = after.find("}}") else {
                return Err(format!(
                    "unclosed `{{{{` at character {} of the template",
                    src[..src.len() - rest.len() + open].chars().count() + 1
                ));
            };
            let expr = after[..close].trim();
            if expr.is_empty() {
                return Err("empty `{{ }}` in the template".into());
            }
            if expr.contains("{{") {
                return Err(format!("`{{{{` inside `{{{{ {expr} }}}}`"));
            }
            let path = Path::parse(expr).map_err(|e| format!("in `{{{{ {expr} }}}}`: {e}"))?;
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Var(path));
            rest = &after[close + 2..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template { pieces })
    }

    /// True when the template has no `{{ }}`.
    pub fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Renders against an event.
    pub fn render(&self, scope: &Scope<'_>) -> String {
        self.render_found(scope).0
    }

    /// Renders, and says whether any `{{ }}` found a value (always true without `{{ }}`):
    /// a rule whose template found nothing at all treats its value as missing.
    pub fn render_found(&self, scope: &Scope<'_>) -> (String, bool) {
        let mut out = String::new();
        let mut found = self.literal().is_some();
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(path) => match path.get(scope) {
                    Some(Scoped::Str(s)) => {
                        found = true;
                        out.push_str(s);
                    }
                    Some(Scoped::Json(v)) => {
                        found |= !v.is_null();
                        match v {
                            // Numbers f64 cannot hold print as sent, not as `1.2e29`.
                            Value::Number(n) if n.is_f64() && scope.raw.is_some() => {
                                out.push_str(&super::rawnum::number_text(
                                    n,
                                    scope.raw,
                                    path.segs.iter().map(|s| s.text()),
                                ));
                            }
                            _ => push_value(&mut out, v),
                        }
                    }
                    None => {}
                },
            }
        }
        (out, found)
    }

    /// Renders against a plain JSON value (the way back renders over Orange objects).
    pub fn render_value(&self, v: &Value) -> String {
        self.render(&Scope::of_value(v))
    }
}

fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(t: &str, v: &Value) -> String {
        Template::compile(t).unwrap().render_value(v)
    }

    #[test]
    fn substitutes_paths_and_leaves_missing_empty() {
        let v = json!({"issue": {"key": "OPS-1", "n": 3, "fields": {"summary": "Down"}}});
        assert_eq!(
            render("{{ issue.key }}: {{issue.fields.summary}}", &v),
            "OPS-1: Down"
        );
        assert_eq!(render("[{{ nope.x }}]{{ issue.n }}", &v), "[]3");
        assert_eq!(render("a {{{{ b", &v), "a {{ b");
    }

    #[test]
    fn bad_templates_are_rejected_with_a_reason() {
        assert!(Template::compile("{{ a").unwrap_err().contains("unclosed"));
        assert!(Template::compile("{{ }}").unwrap_err().contains("empty"));
        assert!(
            Template::compile("{{ a b }}")
                .unwrap_err()
                .contains("not a valid path")
        );
        assert!(
            Template::compile("{{ $nope }}")
                .unwrap_err()
                .contains("unknown variable")
        );
    }
}
