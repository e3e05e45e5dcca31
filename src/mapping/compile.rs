//! Compiling a mapping file: YAML → JSON value → schema check → compiled [`Mapping`].
//!
//! Every problem is collected with its place in the file (`routes[1].then[0].set.priority`),
//! or `line:col` for YAML syntax errors, so a customer fixes them all in one go.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::apply::{AttachmentRules, Call, CallKind, KeyRules, Route};
use super::cond::{Cond, Test, When};
use super::golden;
use super::jq::Jq;
use super::path::{Path as ReadPath, Target};
use super::rule::{LookupRule, OnMissing, Rule, Source};
use super::template::Template;
use super::transform::{NAMES, Transform};
use super::{Mapping, MappingProblem, schemas};
use crate::domain::SourceKind;

mod way_back;

use way_back::way_back;

struct Ctx<'a> {
    file: &'a str,
    problems: Vec<MappingProblem>,
}

impl Ctx<'_> {
    fn problem(&mut self, at: &str, message: impl Into<String>) {
        self.problems.push(MappingProblem {
            file: self.file.to_owned(),
            at: at.to_owned(),
            message: message.into(),
        });
    }
}

/// `/routes/1/then/0` → `routes[1].then[0]`.
pub fn place_of(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    if out.is_empty() { "(top)".into() } else { out }
}

pub fn compile(text: &str, name: &str, base: &Path) -> Result<Mapping, Vec<MappingProblem>> {
    let mut cx = Ctx {
        file: name,
        problems: Vec::new(),
    };
    let doc: Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let msg = e.to_string();
            let at = yaml_location(&msg).unwrap_or_else(|| "-".into());
            cx.problem(&at, format!("YAML: {}", msg.lines().next().unwrap_or("")));
            return Err(cx.problems);
        }
    };
    for v in schemas::check_mapping(&doc) {
        cx.problem(&place_of(&v.pointer), v.message);
    }
    if !cx.problems.is_empty() {
        return Err(cx.problems);
    }
    let kind = match doc.get("source").and_then(Value::as_str) {
        Some("jira") => SourceKind::Jira,
        Some("servicenow") => SourceKind::Servicenow,
        _ => SourceKind::Generic,
    };
    let keys = KeyRules {
        event_type: opt_rule(&mut cx, &doc, "/keys/event_type", OnMissing::Skip),
        ticket: opt_rule(&mut cx, &doc, "/keys/ticket", OnMissing::Skip),
        dedupe: opt_rule(&mut cx, &doc, "/keys/dedupe", OnMissing::Skip),
    };
    let mut routes = Vec::new();
    for (i, r) in arr(&doc, "/routes").iter().enumerate() {
        routes.push(route(&mut cx, r, &format!("routes[{i}]")));
    }
    let way_back = way_back(&mut cx, &doc, kind);
    let mut golden = Vec::new();
    for (i, g) in arr(&doc, "/golden").iter().enumerate() {
        match golden::compile_case(g, base) {
            Ok(c) => golden.push(c),
            Err(m) => cx.problem(&format!("golden[{i}]"), m),
        }
    }
    if !cx.problems.is_empty() {
        return Err(cx.problems);
    }
    let unrouted = match doc.get("unrouted").and_then(Value::as_str) {
        Some("park") => super::Unrouted::Park,
        _ => super::Unrouted::Skip,
    };
    Ok(Mapping {
        name: name.to_owned(),
        kind,
        keys,
        routes,
        unrouted,
        way_back,
        golden,
    })
}

/// serde-saphyr messages carry `line X column Y`; pull it out as `X:Y`.
fn yaml_location(msg: &str) -> Option<String> {
    let l = msg.find("line ")?;
    let line: String = msg[l + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let col = msg.find("column ").map(|c| {
        msg[c + 7..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    Some(match col {
        Some(c) if !c.is_empty() => format!("{line}:{c}"),
        _ => line,
    })
}

fn arr<'v>(v: &'v Value, p: &str) -> &'v [Value] {
    v.pointer(p)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn obj<'v>(v: &'v Value, p: &str) -> Option<&'v Map<String, Value>> {
    v.pointer(p).and_then(Value::as_object)
}

fn opt_rule(cx: &mut Ctx<'_>, v: &Value, p: &str, on_missing: OnMissing) -> Option<Rule> {
    let r = v.pointer(p)?;
    let at = place_of(p);
    rule(cx, r, &at, on_missing)
}

/// Compiles a field rule. Shorthands: a string is a template, a number or boolean a constant.
fn rule(cx: &mut Ctx<'_>, v: &Value, at: &str, default_missing: OnMissing) -> Option<Rule> {
    let mk = |source| Rule {
        source,
        transforms: Vec::new(),
        table: None,
        default: None,
        on_missing: default_missing,
        at: at.to_owned(),
    };
    let o = match v {
        Value::String(s) => {
            return match Template::compile(s) {
                Ok(t) => Some(mk(match t.literal() {
                    Some(l) => Source::Const(Value::String(l.to_owned())),
                    None => Source::Template(t),
                })),
                Err(e) => {
                    cx.problem(at, format!("bad template: {e}"));
                    None
                }
            };
        }
        Value::Object(o) => o,
        other => return Some(mk(Source::Const(other.clone()))),
    };
    let sources: Vec<&str> = ["path", "template", "const", "jq", "lookup"]
        .into_iter()
        .filter(|k| o.contains_key(*k))
        .collect();
    if sources.len() != 1 {
        cx.problem(
            at,
            format!(
                "a rule needs exactly one of path, template, const, jq, lookup (found {})",
                if sources.is_empty() {
                    "none".into()
                } else {
                    sources.join(", ")
                }
            ),
        );
        return None;
    }
    let source = match sources[0] {
        "path" => match ReadPath::parse(o["path"].as_str().unwrap_or("")) {
            Ok(p) => Source::Path(p),
            Err(e) => return bad(cx, &format!("{at}.path"), e),
        },
        "template" => match Template::compile(o["template"].as_str().unwrap_or("")) {
            Ok(t) => Source::Template(t),
            Err(e) => return bad(cx, &format!("{at}.template"), format!("bad template: {e}")),
        },
        "jq" => match Jq::compile(o["jq"].as_str().unwrap_or("")) {
            Ok(j) => Source::Jq(j),
            Err(e) => return bad(cx, &format!("{at}.jq"), e),
        },
        "lookup" => Source::Lookup(lookup(cx, &o["lookup"], &format!("{at}.lookup"))?),
        _ => Source::Const(o["const"].clone()),
    };
    let mut transforms = Vec::new();
    for (i, t) in o
        .get("transforms")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let tat = format!("{at}.transforms[{i}]");
        let parsed = match t {
            Value::String(n) => Transform::by_name(n),
            Value::Object(m) => m
                .get("truncate")
                .and_then(Value::as_u64)
                .map(|n| Transform::Truncate(n as usize)),
            _ => None,
        };
        match parsed {
            Some(p) => transforms.push(p),
            None => cx.problem(
                &tat,
                format!("unknown transform {t} (known: {})", NAMES.join(", ")),
            ),
        }
    }
    let table = o.get("table").and_then(Value::as_object).map(|t| {
        t.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<HashMap<_, _>>()
    });
    let on_missing = match o.get("on_missing").and_then(Value::as_str) {
        Some("skip") => OnMissing::Skip,
        Some("null") => OnMissing::Null,
        Some("error") => OnMissing::Error,
        _ => default_missing,
    };
    Some(Rule {
        source,
        transforms,
        table,
        default: o.get("default").cloned(),
        on_missing,
        at: at.to_owned(),
    })
}

fn bad<T>(cx: &mut Ctx<'_>, at: &str, msg: String) -> Option<T> {
    cx.problem(at, msg);
    None
}

fn lookup(cx: &mut Ctx<'_>, v: &Value, at: &str) -> Option<LookupRule> {
    let mut filters = Vec::new();
    let mut ok = true;
    for (k, f) in v
        .get("filters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        match Template::compile(f.as_str().unwrap_or("")) {
            Ok(t) => filters.push((k.clone(), t)),
            Err(e) => {
                cx.problem(&format!("{at}.filters.{k}"), format!("bad template: {e}"));
                ok = false;
            }
        }
    }
    ok.then(|| LookupRule {
        collection: v
            .get("collection")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        filters,
        field: v
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or("id")
            .to_owned(),
        if_none: v.get("if_none").cloned(),
    })
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn cond(cx: &mut Ctx<'_>, v: &Value, at: &str) -> Option<Cond> {
    let path = match ReadPath::parse(v.get("path").and_then(Value::as_str).unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return bad(cx, &format!("{at}.path"), e),
    };
    let test = if let Some(e) = v.get("equals") {
        Test::Equals(e.clone())
    } else if let Some(Value::Array(l)) = v.get("in") {
        Test::In(l.clone())
    } else if let Some(g) = v.get("matches").and_then(Value::as_str) {
        Test::Matches(g.to_owned())
    } else {
        Test::Exists(v.get("exists").and_then(Value::as_bool).unwrap_or(true))
    };
    Some(Cond {
        path,
        test,
        negate: v.get("not").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn route(cx: &mut Ctx<'_>, r: &Value, at: &str) -> Route {
    let w = r.get("when").cloned().unwrap_or(Value::Null);
    let mut when = When {
        events: strings(w.get("event")),
        changed: strings(w.get("changed"))
            .into_iter()
            .map(|s| s.to_lowercase())
            .collect(),
        ..When::default()
    };
    for (list, key) in [(&mut when.all, "all"), (&mut when.any, "any")] {
        for (i, c) in arr(&w, &format!("/{key}")).iter().enumerate() {
            if let Some(c) = cond(cx, c, &format!("{at}.when.{key}[{i}]")) {
                list.push(c);
            }
        }
    }
    let mut then = Vec::new();
    for (j, c) in arr(r, "/then").iter().enumerate() {
        if let Some(c) = call(cx, c, &format!("{at}.then[{j}]")) {
            then.push(c);
        }
    }
    Route {
        name: r
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| at.to_owned()),
        when,
        then,
        skip: r.get("skip").and_then(Value::as_str).map(str::to_owned),
        stop: r.get("stop").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn call(cx: &mut Ctx<'_>, c: &Value, at: &str) -> Option<Call> {
    let mut set = Vec::new();
    for (field, r) in c
        .get("set")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let fat = format!("{at}.set.{field}");
        let target = match Target::parse(field) {
            Ok(t) => t,
            Err(e) => {
                cx.problem(&fat, e);
                continue;
            }
        };
        if let Some(r) = rule(cx, r, &fat, OnMissing::Error) {
            set.push((target, r));
        }
    }
    let need = |key: &str, cx: &mut Ctx<'_>| -> Option<Rule> {
        match c.get(key) {
            Some(v) => rule(cx, v, &format!("{at}.{key}"), OnMissing::Error),
            None => bad(cx, at, format!("upload_attachment needs `{key}`")),
        }
    };
    let kind = match c.get("call").and_then(Value::as_str).unwrap_or("") {
        "create_incident" => CallKind::CreateIncident,
        "update_incident" => CallKind::UpdateIncident,
        "add_note" => CallKind::AddNote,
        "create_trouble_ticket" => CallKind::CreateTroubleTicket,
        "comment_trouble_ticket" => CallKind::CommentTroubleTicket,
        "submit_order" => CallKind::SubmitOrder,
        "upload_attachment" => {
            let url = need("url", cx);
            let filename = need("filename", cx);
            let content_type = c
                .get("content_type")
                .and_then(|v| rule(cx, v, &format!("{at}.content_type"), OnMissing::Skip));
            CallKind::UploadAttachment(Box::new(AttachmentRules {
                url: url?,
                filename: filename?,
                content_type,
            }))
        }
        other => return bad(cx, &format!("{at}.call"), format!("unknown call `{other}`")),
    };
    let external_ref = c
        .get("external_ref")
        .and_then(|v| rule(cx, v, &format!("{at}.external_ref"), OnMissing::Skip));
    Some(Call {
        kind,
        set,
        external_ref,
        at: at.to_owned(),
    })
}

fn templates(
    cx: &mut Ctx<'_>,
    m: Option<&Map<String, Value>>,
    at: &str,
    skip: &[&str],
) -> Vec<(String, Template)> {
    let mut out = Vec::new();
    for (k, v) in m.into_iter().flatten() {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match Template::compile(&text) {
            Ok(t) => out.push((k.clone(), t)),
            Err(e) => cx.problem(&format!("{at}.{k}"), format!("bad template: {e}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_places() {
        assert_eq!(
            place_of("/routes/1/then/0/set/priority"),
            "routes[1].then[0].set.priority"
        );
        assert_eq!(place_of(""), "(top)");
    }
}
