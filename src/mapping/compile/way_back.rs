//! Compiling the `way_back:` section: how Orange's changes are written back to the ITSM
//! (status rules, notes, the Orange id fields, the steps of a request).

use serde_json::Value;

use super::{Ctx, obj, templates};
use crate::domain::SourceKind;
use crate::mapping::template::Template;
use crate::mapping::wayback::{NoteAs, NotePush, StatusRule, StepRule, WayBack};

fn status_rule(cx: &mut Ctx<'_>, v: &Value, at: &str) -> StatusRule {
    match v {
        Value::String(s) if s == "skip" => StatusRule::Ignore,
        Value::Object(o) => match o.get("transition").and_then(Value::as_str) {
            Some(t) => StatusRule::Transition {
                name: t.to_owned(),
                fields: templates(
                    cx,
                    o.get("fields").and_then(Value::as_object),
                    &format!("{at}.fields"),
                    &[],
                ),
            },
            None => StatusRule::Patch(templates(cx, Some(o), at, &[])),
        },
        _ => {
            cx.problem(
                at,
                "a status rule is `skip`, `{transition: …}` or a map of fields",
            );
            StatusRule::Ignore
        }
    }
}

pub(super) fn way_back(cx: &mut Ctx<'_>, doc: &Value, kind: SourceKind) -> WayBack {
    let mut wb = WayBack::empty(kind);
    let Some(w) = doc.get("way_back") else {
        return wb;
    };
    if let Some(t) = w.get("table").and_then(Value::as_str) {
        wb.table = t.to_owned();
    }
    for (s, r) in obj(w, "/status").into_iter().flatten() {
        let rule = status_rule(cx, r, &format!("way_back.status.{s}"));
        if s == "*" {
            wb.status_default = Some(rule);
        } else {
            wb.status.push((s.to_uppercase(), rule));
        }
    }
    if let Some(n) = w.get("notes") {
        wb.notes = match n.get("push").and_then(Value::as_str) {
            Some("all") => NotePush::All,
            Some("none") => NotePush::None,
            _ => NotePush::Orange,
        };
        wb.note_as = match n.get("as").and_then(Value::as_str) {
            Some("public" | "comments") => NoteAs::Public,
            _ => NoteAs::Internal,
        };
        if let Some(t) = n.get("text").and_then(Value::as_str) {
            match Template::compile(t) {
                Ok(t) => wb.note_text = t,
                Err(e) => cx.problem("way_back.notes.text", format!("bad template: {e}")),
            }
        }
    }
    wb.orange_id_fields = templates(cx, obj(w, "/orange_id"), "way_back.orange_id", &[]);
    wb.steps = steps(cx, w.get("steps"));
    wb
}

/// `way_back.steps`: a list, in the order requests move, of
/// `{step, transition?, fields?, comment?}` (Jira) or `{step, fields?, comment?}` (ServiceNow).
fn steps(cx: &mut Ctx<'_>, v: Option<&Value>) -> Vec<StepRule> {
    let Some(v) = v else {
        return Vec::new();
    };
    let Some(list) = v.as_array() else {
        cx.problem(
            "way_back.steps",
            "a list of `{step: NAME, …}` in step order",
        );
        return Vec::new();
    };
    let mut out: Vec<StepRule> = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let at = format!("way_back.steps[{i}]");
        let Some(step) = r
            .get("step")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            cx.problem(&at, "needs `step: NAME`");
            continue;
        };
        if out.iter().any(|o| o.step.eq_ignore_ascii_case(step)) {
            cx.problem(&at, format!("step {step} is listed twice"));
            continue;
        }
        let known = ["step", "transition", "fields", "comment"];
        if let Some(o) = r.as_object()
            && let Some(k) = o.keys().find(|k| !known.contains(&k.as_str()))
        {
            cx.problem(
                &at,
                format!("unknown key `{k}` (step, transition, fields, comment)"),
            );
        }
        let fields = templates(
            cx,
            r.get("fields").and_then(Value::as_object),
            &format!("{at}.fields"),
            &[],
        );
        let status = match r.get("transition").and_then(Value::as_str) {
            Some(t) => Some(StatusRule::Transition {
                name: t.to_owned(),
                fields,
            }),
            None if !fields.is_empty() => Some(StatusRule::Patch(fields)),
            None => None,
        };
        let comment = match r.get("comment").and_then(Value::as_str) {
            Some(t) => match Template::compile(t) {
                Ok(t) => Some(t),
                Err(e) => {
                    cx.problem(&format!("{at}.comment"), format!("bad template: {e}"));
                    None
                }
            },
            None => None,
        };
        out.push(StepRule {
            step: step.to_uppercase(),
            status,
            comment,
        });
    }
    out
}
