//! The mapping playground: choose a tenant's source, paste (or load from a file) an event and
//! its headers, edit the mapping's YAML, and see what the gateway would do — the Orange calls,
//! the skip, or the error with its rule and JSON pointer — and the golden cases' results.
//! It runs the same intake step as a live webhook (`intake::map`: event schema, then the
//! mapping) on the text in the page; nothing is saved, queued or sent.

use std::fmt::Write as _;
use std::path::Path;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::html::{csrf_field, esc, notice, page, page_with, select, table};
use super::session::{Session, Signed};
use super::{Form, tenants};
use crate::domain::SourceKind;
use crate::http::AppState;
use crate::mapping::{Incoming, Mapping};

const HERE: &str = "/console/playground";

/// A tenant's source the session sees: `tenant/source`, its kind and mapping file.
struct Choice {
    key: String,
    kind: SourceKind,
    file: std::path::PathBuf,
    shown: String,
}

fn choices(state: &AppState, s: &Session) -> Vec<Choice> {
    let visible = tenants(state, s);
    let config = state.tenants();
    let mut out = Vec::new();
    for t in config.tenants.iter().filter(|t| visible.contains(&t.id)) {
        for (name, src) in &t.sources {
            if let Some(kind) = src.kind_for(name) {
                out.push(Choice {
                    key: format!("{}/{name}", t.id),
                    kind,
                    file: config.mappings_dir.join(&src.mapping),
                    shown: src.mapping.display().to_string(),
                });
            }
        }
    }
    out
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    source: String,
}

struct Inputs<'a> {
    source: &'a str,
    headers: &'a str,
    event: &'a str,
    mapping: &'a str,
}

fn form(s: &Session, cs: &[Choice], i: &Inputs<'_>) -> String {
    let keys: Vec<String> = cs.iter().map(|c| c.key.clone()).collect();
    format!(
        "<form method=\"post\" action=\"{HERE}\" class=\"stack playground\">{csrf}\
         <div class=\"row\">{sel}<button type=\"submit\" name=\"load\" value=\"yes\">Load its mapping</button></div>\
         <label for=\"f-headers\">Headers (one <code>Name: value</code> a line)</label>\
         <textarea id=\"f-headers\" name=\"headers\" rows=\"3\" spellcheck=\"false\">{h}</textarea>\
         <label for=\"f-event\">Event (JSON)</label>\
         <textarea id=\"f-event\" name=\"event\" rows=\"12\" spellcheck=\"false\">{e}</textarea>\
         <label for=\"f-file\">…or load the event from a file</label>\
         <input id=\"f-file\" type=\"file\" accept=\".json,application/json\" data-fills=\"f-event\">\
         <label for=\"f-mapping\">Mapping (YAML)</label>\
         <textarea id=\"f-mapping\" name=\"mapping\" rows=\"20\" spellcheck=\"false\">{m}</textarea>\
         <button type=\"submit\" name=\"run\" value=\"yes\">Run</button></form>",
        csrf = csrf_field(s),
        sel = select("source", "Tenant and source", &keys, i.source, None),
        h = esc(i.headers),
        e = esc(i.event),
        m = esc(i.mapping),
    )
}

pub async fn show(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    Query(sq): Query<ShowQuery>,
) -> Response {
    let cs = choices(&state, &s);
    let Some(choice) = cs.iter().find(|c| c.key == sq.source).or(cs.first()) else {
        return page(
            "Mapping playground",
            HERE,
            Some(&s),
            "<p class=\"empty\">This token sees no source.</p>",
        );
    };
    let text = std::fs::read_to_string(&choice.file).unwrap_or_default();
    let i = Inputs {
        source: &choice.key,
        headers: "",
        event: "",
        mapping: &text,
    };
    let body = format!(
        "<p class=\"hint\">Nothing here is saved or sent: the page runs the gateway's intake step on \
         what you type.</p>{}",
        form(&s, &cs, &i)
    );
    page("Mapping playground", HERE, Some(&s), &body)
}

fn headers_of(text: &str) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("header line {}: not `Name: value`", n + 1))?;
        let k =
            HeaderName::try_from(k.trim()).map_err(|e| format!("header line {}: {e}", n + 1))?;
        let v =
            HeaderValue::try_from(v.trim()).map_err(|e| format!("header line {}: {e}", n + 1))?;
        h.append(k, v);
    }
    Ok(h)
}

pub async fn run(State(state): State<AppState>, Signed(s, _): Signed, body: Bytes) -> Response {
    let f = Form::parse(&body);
    if !s.csrf_ok(f.get("csrf")) {
        return super::refused(
            &s,
            StatusCode::FORBIDDEN,
            HERE,
            "The form is stale; reload the page and try again.",
        );
    }
    let cs = choices(&state, &s);
    let Some(choice) = cs.iter().find(|c| Some(c.key.as_str()) == f.get("source")) else {
        return super::refused(
            &s,
            StatusCode::NOT_FOUND,
            HERE,
            "Choose one of your tenants' sources.",
        );
    };
    let loaded;
    let mapping_text = if f.get("load") == Some("yes") {
        loaded = std::fs::read_to_string(&choice.file).unwrap_or_default();
        loaded.as_str()
    } else {
        f.get("mapping").unwrap_or("")
    };
    let i = Inputs {
        source: &choice.key,
        headers: f.get("headers").unwrap_or(""),
        event: f.get("event").unwrap_or(""),
        mapping: mapping_text,
    };
    let mut out = String::new();
    let status = if f.get("load") == Some("yes") {
        StatusCode::OK
    } else {
        results(&mut out, choice, &i)
    };
    let body = format!("{out}{}", form(&s, &cs, &i));
    page_with(status, "Mapping playground", HERE, Some(&s), &body)
}

/// Runs the mapping on the event and its golden cases; writes what came of it. 422 when the
/// mapping does not compile or the event is not JSON.
fn results(out: &mut String, choice: &Choice, i: &Inputs<'_>) -> StatusCode {
    let base = choice.file.parent().unwrap_or(Path::new("."));
    let mapping = match Mapping::from_str(i.mapping, &choice.shown, base) {
        Ok(m) => m,
        Err(problems) => {
            out.push_str("<section class=\"result error\" aria-labelledby=\"r\"><h2 id=\"r\">The mapping does not compile</h2>");
            let rows: Vec<Vec<String>> = problems
                .iter()
                .map(|p| vec![esc(&p.at), esc(&p.message)])
                .collect();
            out.push_str(&table("Problems", &["Where", "What"], &rows));
            out.push_str("</section>");
            return StatusCode::UNPROCESSABLE_ENTITY;
        }
    };
    let mut status = StatusCode::OK;
    if !i.event.trim().is_empty() {
        match (
            headers_of(i.headers),
            serde_json::from_str::<serde_json::Value>(i.event),
        ) {
            (Err(e), _) => {
                out.push_str(&notice("error", &e));
                status = StatusCode::UNPROCESSABLE_ENTITY;
            }
            (_, Err(e)) => {
                out.push_str(&notice("error", &format!("The event is not JSON: {e}")));
                status = StatusCode::UNPROCESSABLE_ENTITY;
            }
            (Ok(headers), Ok(body)) => {
                let incoming = Incoming {
                    kind: choice.kind,
                    headers: &headers,
                    body: &body,
                    raw: i.event.as_bytes(),
                };
                let (mapped, disposition) = crate::intake::map(&mapping, &incoming);
                out.push_str("<section class=\"result\" aria-labelledby=\"r\"><h2 id=\"r\">What the gateway would do</h2><dl class=\"figures\">");
                for (k, v) in [
                    ("Event type", mapped.event_type.clone()),
                    (
                        "Ticket",
                        mapped.ticket.clone().unwrap_or_else(|| "—".into()),
                    ),
                    (
                        "Number",
                        mapped.number.clone().unwrap_or_else(|| "—".into()),
                    ),
                    ("Dedupe key", mapped.dedupe_key.clone()),
                    ("Routes", mapped.routes.join(", ")),
                ] {
                    let _ = write!(out, "<div><dt>{k}</dt><dd>{}</dd></div>", esc(&v));
                }
                out.push_str("</dl>");
                if let Some(p) = &disposition.parked {
                    let _ = write!(
                        out,
                        "<div class=\"notice error\" role=\"status\"><p><strong>Parked ({})</strong>: {}</p>\
                         <p>Rule: <code>{}</code> · JSON pointer: <code>{}</code></p></div>",
                        esc(&serde_json::to_value(p.reason)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()),
                        esc(&p.detail),
                        esc(p.rule.as_deref().unwrap_or("—")),
                        esc(p.pointer.as_deref().unwrap_or("—"))
                    );
                } else if let Some(skip) = &disposition.skipped {
                    out.push_str(&notice("ok", &format!("Skipped: {skip}")));
                } else if disposition.unrouted {
                    out.push_str(&notice("ok", "Unrouted: no route matches this event."));
                }
                for (n, c) in mapped.calls.iter().enumerate() {
                    let json = serde_json::to_string_pretty(c).unwrap_or_default();
                    let _ = write!(
                        out,
                        "<h3>Call {} of {}</h3><pre class=\"call\">{}</pre>",
                        n + 1,
                        mapped.calls.len(),
                        esc(&json)
                    );
                }
                out.push_str("</section>");
            }
        }
    }
    let failed = mapping.run_golden();
    let rows: Vec<Vec<String>> = mapping
        .golden()
        .iter()
        .enumerate()
        .map(|(n, c)| {
            let at = format!("golden[{n}] `{}`", c.name);
            match failed.iter().find(|p| p.at == at) {
                Some(p) => vec![
                    esc(&c.name),
                    "<strong class=\"fail\">fails</strong>".into(),
                    esc(&p.message),
                ],
                None => vec![
                    esc(&c.name),
                    "<span class=\"pass\">passes</span>".into(),
                    String::new(),
                ],
            }
        })
        .collect();
    out.push_str(&table("Golden cases", &["Case", "Result", "Why"], &rows));
    status
}
