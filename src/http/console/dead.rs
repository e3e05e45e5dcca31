//! Dead letters and parked events: lists with a checkbox per row, then replay or discard of
//! the chosen ones — or replay of all of a tenant's — after a confirmation page that names
//! what will happen. Acts through `http::admin::acts`, which
//! checks the tenant scope and writes the audit log.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::html::{csrf_field, esc, notice, page, select, table, when};
use super::session::{Session, Signed};
use super::{Form, a, acting, refused, tenants};
use crate::domain::{DeliveryId, EventId, TenantId};
use crate::http::AppState;
use crate::http::admin::acts;
use crate::ops::timeline::operation;
use crate::store::{EventQuery, EventState};

const HERE: &str = "/console/dead-letters";
const LIMIT: u32 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    tenant: String,
}

fn chosen_tenant(
    state: &AppState,
    s: &Session,
    raw: &str,
) -> Result<Option<TenantId>, Box<Response>> {
    match raw.trim() {
        "" => Ok(None),
        t => TenantId::parse(t)
            .ok()
            .filter(|t| tenants(state, s).contains(t))
            .map(Some)
            .ok_or_else(|| {
                Box::new(refused(
                    s,
                    StatusCode::FORBIDDEN,
                    HERE,
                    &format!("This token does not see tenant {t}."),
                ))
            }),
    }
}

pub async fn show(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    Query(sq): Query<ShowQuery>,
) -> Response {
    let tenant = match chosen_tenant(&state, &s, &sq.tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let names: Vec<String> = tenants(&state, &s)
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    let mut body = format!(
        "<form method=\"get\" action=\"{HERE}\" class=\"filters\">{}<button type=\"submit\">Show</button></form>",
        select("tenant", "Tenant", &names, &sq.tenant, Some("all"))
    );
    let filters = match s.principal.tenant_filters(tenant.clone()) {
        Ok(f) => f,
        Err(p) => {
            return refused(
                &s,
                StatusCode::FORBIDDEN,
                HERE,
                p.detail.as_deref().unwrap_or(""),
            );
        }
    };
    let (mut dead, mut parked) = (Vec::new(), Vec::new());
    for t in &filters {
        match state.store.dead_letters(t.as_ref(), LIMIT).await {
            Ok(d) => dead.extend(d),
            Err(e) => body.push_str(&notice("error", &e.to_string())),
        }
        let q = EventQuery {
            tenant: t.clone(),
            limit: LIMIT,
            state: Some(EventState::Parked),
            ..EventQuery::default()
        };
        match state.store.list_events(&q).await {
            Ok(p) => parked.extend(p),
            Err(e) => body.push_str(&notice("error", &e.to_string())),
        }
    }
    dead.sort_by_key(|d| std::cmp::Reverse(d.id.0));
    parked.sort_by_key(|e| std::cmp::Reverse(e.id));
    let can = s.principal.can_act();
    let check = |name: &str, id: &str, label: &str| {
        if can {
            format!(
                "<input type=\"checkbox\" name=\"{name}\" value=\"{}\" id=\"c-{}\" aria-label=\"Choose {}\">",
                esc(id),
                esc(id),
                esc(label)
            )
        } else {
            String::new()
        }
    };
    let rows: Vec<Vec<String>> = dead
        .iter()
        .map(|d| {
            vec![
                check("id", &d.id.to_string(), &format!("dead letter {}", d.id)),
                d.id.to_string(),
                esc(d.tenant.as_str()),
                a(
                    &format!(
                        "/console/ticket?tenant={}&name={}",
                        super::html::q(d.tenant.as_str()),
                        super::html::q(d.ticket.as_str())
                    ),
                    d.ticket.ticket(),
                ),
                esc(&operation(&d.target)),
                d.attempts.to_string(),
                esc(d.last_error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    // The form's hidden fields, when the session may act.
    let form = can.then(|| {
        format!(
            "{}<input type=\"hidden\" name=\"tenant\" value=\"{}\">",
            csrf_field(&s),
            esc(&sq.tenant)
        )
    });
    let dead_section = Choosing {
        id: "dead",
        title: "Dead letters",
        action: "/console/dead-letters/act",
        caption: "Dead letters, newest first",
        headers: &[
            "",
            "#",
            "Tenant",
            "Ticket",
            "Call",
            "Attempts",
            "Last error",
        ],
        all: "dead letters",
    };
    dead_section.write(&mut body, form.as_deref(), &rows);
    let parked_rows: Vec<Vec<String>> = parked
        .iter()
        .map(|e| {
            let p = e.disposition.parked.as_ref();
            vec![
                check(
                    "event",
                    &e.id.to_string(),
                    &format!("parked event {}", e.id),
                ),
                esc(&when(e.received_at)),
                esc(e.tenant.as_str()),
                a(&format!("/console/events/{}", e.id), &e.event_type),
                esc(p.map(|p| p.detail.as_str()).unwrap_or("")),
                esc(p.and_then(|p| p.rule.as_deref()).unwrap_or("")),
            ]
        })
        .collect();
    let parked_section = Choosing {
        id: "parked",
        title: "Parked events",
        action: "/console/parked/act",
        caption: "Parked events, newest first",
        headers: &["", "Received (UTC)", "Tenant", "Type", "Why", "Rule"],
        all: "parked events",
    };
    parked_section.write(&mut body, form.as_deref(), &parked_rows);
    page("Dead letters & parked events", HERE, Some(&s), &body)
}

/// A section of rows to choose from (the first cell of each a checkbox): when the session
/// may act, inside a form that posts the chosen ones to `action` with the buttons.
struct Choosing<'a> {
    /// The section's id and heading.
    id: &'a str,
    title: &'a str,
    action: &'a str,
    caption: &'a str,
    headers: &'a [&'a str],
    /// What the "replay all" button names.
    all: &'a str,
}

impl Choosing<'_> {
    /// `form`: the form's hidden fields, when the session may act (no form otherwise).
    fn write(&self, body: &mut String, form: Option<&str>, rows: &[Vec<String>]) {
        let _ = write!(
            body,
            "<section aria-labelledby=\"{0}\"><h2 id=\"{0}\">{1}</h2>",
            self.id, self.title
        );
        if let Some(hidden) = form {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"{}\">{hidden}",
                self.action
            );
        }
        body.push_str(&table(self.caption, self.headers, rows));
        if form.is_some() {
            if !rows.is_empty() {
                let _ = write!(
                    body,
                    "<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"replay\">Replay chosen</button>\
                     <button type=\"submit\" name=\"action\" value=\"discard\">Discard chosen</button>\
                     <button type=\"submit\" name=\"action\" value=\"replay-all\">Replay all shown tenants' {}</button></div>",
                    self.all
                );
            }
            body.push_str("</form>");
        }
        body.push_str("</section>");
    }
}

/// The confirmation page: what will happen, and a form that does it.
fn confirm(s: &Session, action_url: &str, form: &Form, what: &str) -> Response {
    let mut hidden = csrf_field(s);
    for (k, v) in &form.0 {
        if k != "csrf" && k != "confirm" {
            let _ = write!(
                hidden,
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            );
        }
    }
    let body = format!(
        "<p>{}</p><form method=\"post\" action=\"{action_url}\">{hidden}\
         <button type=\"submit\" name=\"confirm\" value=\"yes\" autofocus>Confirm</button> \
         <a href=\"{HERE}\">Cancel</a></form>",
        esc(what)
    );
    page("Confirm", HERE, Some(s), &body)
}

fn result_page(s: &Session, lines: Vec<(bool, String)>) -> Response {
    let mut body = String::new();
    for (ok, l) in lines {
        body.push_str(&notice(if ok { "ok" } else { "error" }, &l));
    }
    let _ = write!(
        body,
        "<p><a href=\"{HERE}\">Back to dead letters and parked events</a></p>"
    );
    page("Done", HERE, Some(s), &body)
}

/// What a dead-letter or parked-event form asks, once it is known to be honest: its action,
/// the ids ticked in `id_field`, and the tenant of a "replay all".
struct Asked<'f> {
    action: &'f str,
    ids: Vec<&'f str>,
    tenant: Option<TenantId>,
}

/// Reads a form of this page, or the answer that stops it: a stale or forged form, a tenant
/// outside the session's scope, or nothing ticked (`none_ticked` says what to tick).
fn asked<'f>(
    state: &AppState,
    s: &Session,
    form: &'f Form,
    id_field: &str,
    none_ticked: &str,
) -> Result<Asked<'f>, Box<Response>> {
    if let Some(r) = acting(s, form, HERE) {
        return Err(Box::new(r));
    }
    let action = form.get("action").unwrap_or("");
    if !["replay", "discard", "replay-all"].contains(&action) {
        // Confirmed or not: a forged action never falls through to a replay.
        return Err(Box::new(refused(
            s,
            StatusCode::BAD_REQUEST,
            HERE,
            "Unknown action.",
        )));
    }
    let ids = form.all(id_field);
    let tenant = chosen_tenant(state, s, form.get("tenant").unwrap_or(""))?;
    if action != "replay-all" && ids.is_empty() {
        return Err(Box::new(refused(
            s,
            StatusCode::BAD_REQUEST,
            HERE,
            none_ticked,
        )));
    }
    Ok(Asked {
        action,
        ids,
        tenant,
    })
}

pub async fn act(State(state): State<AppState>, Signed(s, _): Signed, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let Asked {
        action,
        ids,
        tenant,
    } = match asked(&state, &s, &form, "id", "Choose at least one dead letter.") {
        Ok(a) => a,
        Err(r) => return *r,
    };
    if form.get("confirm") != Some("yes") {
        let what = match action {
            "replay" => format!(
                "Replay {} dead letter(s) ({}) with the mapping in force now?",
                ids.len(),
                ids.join(", ")
            ),
            "discard" => format!(
                "Discard {} dead letter(s) ({})? They will not be delivered.",
                ids.len(),
                ids.join(", ")
            ),
            "replay-all" => format!(
                "Replay every dead letter of {}?",
                tenant
                    .as_ref()
                    .map_or("every tenant you see", |t| t.as_str())
            ),
            _ => return refused(&s, StatusCode::BAD_REQUEST, HERE, "Unknown action."),
        };
        return confirm(&s, "/console/dead-letters/act", &form, &what);
    }
    let mut lines = Vec::new();
    if action == "replay-all" {
        match acts::replay_dead_letters(&state, &s.principal, tenant).await {
            Ok(b) => {
                lines.push((
                    true,
                    format!("{} dead letter(s) replayed.", b.replayed.len()),
                ));
                for f in b.failed {
                    lines.push((
                        false,
                        format!("#{}: {}", f["id"], f["error"].as_str().unwrap_or("")),
                    ));
                }
            }
            Err(p) => lines.push((false, p.detail.clone().unwrap_or_default())),
        }
        return result_page(&s, lines);
    }
    for raw in ids {
        let Ok(id) = raw.parse::<i64>().map(DeliveryId) else {
            lines.push((false, format!("{raw:?} is not a delivery id.")));
            continue;
        };
        let r = if action == "discard" {
            acts::discard_dead_letter(&state, &s.principal, id)
                .await
                .map(|()| format!("#{id} discarded."))
        } else {
            acts::replay_dead_letter(&state, &s.principal, id)
                .await
                .map(|_| format!("#{id} replayed: due now."))
        };
        lines.push(match r {
            Ok(l) => (true, l),
            Err(p) => (
                false,
                format!("#{id}: {}", p.detail.clone().unwrap_or_default()),
            ),
        });
    }
    result_page(&s, lines)
}

pub async fn act_parked(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let Asked {
        action,
        ids,
        tenant,
    } = match asked(
        &state,
        &s,
        &form,
        "event",
        "Choose at least one parked event.",
    ) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    if form.get("confirm") != Some("yes") {
        let what = match action {
            "replay-all" => format!(
                "Replay every parked event of {} with the mapping in force now?",
                tenant
                    .as_ref()
                    .map_or("every tenant you see", |t| t.as_str())
            ),
            "replay" => format!(
                "Replay {} parked event(s) with the mapping in force now?",
                ids.len()
            ),
            "discard" => format!(
                "Discard {} parked event(s) ({})? They can no longer be replayed.",
                ids.len(),
                ids.join(", ")
            ),
            _ => return refused(&s, StatusCode::BAD_REQUEST, HERE, "Unknown action."),
        };
        return confirm(&s, "/console/parked/act", &form, &what);
    }
    let mut lines = Vec::new();
    if action == "replay-all" {
        match acts::replay_parked(&state, &s.principal, tenant).await {
            Ok(b) => lines.push((
                b.failed.is_empty(),
                format!(
                    "{} replayed, {} still parked, {} failed.",
                    b.replayed.len(),
                    b.still_parked.len(),
                    b.failed.len()
                ),
            )),
            Err(p) => lines.push((false, p.detail.clone().unwrap_or_default())),
        }
        return result_page(&s, lines);
    }
    for raw in ids {
        let Ok(id) = EventId::parse(raw) else {
            lines.push((false, format!("{raw:?} is not an event id.")));
            continue;
        };
        if action == "discard" {
            lines.push(match acts::discard_event(&state, &s.principal, id).await {
                Ok(()) => (true, format!("{id} discarded.")),
                Err(p) => (
                    false,
                    format!("{id}: {}", p.detail.clone().unwrap_or_default()),
                ),
            });
            continue;
        }
        lines.push(match acts::replay_event(&state, &s.principal, id).await {
            Ok(r) => match &r.disposition.parked {
                Some(p) => (false, format!("{id}: still parked: {}", p.detail)),
                None => (
                    true,
                    format!("{id}: replayed, {} call(s) planned.", r.calls),
                ),
            },
            Err(p) => (
                false,
                format!("{id}: {}", p.detail.clone().unwrap_or_default()),
            ),
        });
    }
    result_page(&s, lines)
}
