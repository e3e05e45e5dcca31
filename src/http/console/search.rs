//! Search and a ticket's timeline. One box takes an ITSM number or key (`INC0012345`,
//! `OPS-1287`), an ITSM id, an Orange id or a full ticket key; each tenant the token sees is
//! asked (`ops::timeline`), and one match opens its timeline: the events, what the mapping
//! decided, the calls, each attempt with Orange's error, the link, what the poller saw and
//! the write-backs.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::{esc, notice, page, q, table, when};
use super::session::Signed;
use super::{a, tenants};
use crate::domain::{SourceName, TenantId};
use crate::http::AppState;
use crate::ops::timeline::{self, Timeline, TimelineError};

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

fn search_form(value: &str) -> String {
    format!(
        "<form method=\"get\" action=\"/console/search\" role=\"search\" class=\"inline\">\
         <label for=\"f-q\">ITSM number or key, ticket id or Orange id</label>\
         <input id=\"f-q\" name=\"q\" value=\"{}\" autofocus>\
         <button type=\"submit\">Search</button></form>",
        esc(value)
    )
}

fn sources(state: &AppState, t: &TenantId) -> Vec<SourceName> {
    state
        .tenants()
        .tenant(t.as_str())
        .map(|c| c.sources.keys().cloned().collect())
        .unwrap_or_default()
}

fn ticket_href(t: &TenantId, name: &str) -> String {
    format!("/console/ticket?tenant={}&name={}", q(t.as_str()), q(name))
}

pub async fn search(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    Query(sq): Query<SearchQuery>,
) -> Response {
    let name = sq.q.trim();
    let mut body = search_form(name);
    if name.is_empty() {
        return page("Search", "/console/search", Some(&s), &body);
    }
    let mut found: Vec<(TenantId, String, String)> = Vec::new();
    let mut errors = Vec::new();
    for t in tenants(&state, &s) {
        let srcs = sources(&state, &t);
        match timeline::resolve(state.store.as_ref(), &t, &srcs, name).await {
            Ok(key) => found.push((t, key.to_string(), String::new())),
            Err(TimelineError::Ambiguous { candidates, .. }) => {
                for c in candidates {
                    let what = format!("{} {}", c.source, c.numbers.join(", "));
                    found.push((t.clone(), c.ticket.to_string(), what));
                }
            }
            Err(TimelineError::NotFound { .. } | TimelineError::UnknownTenant(_)) => {}
            Err(TimelineError::Store(e)) => errors.push(format!("{t}: {e}")),
        }
    }
    if found.len() == 1 && errors.is_empty() {
        let (t, key, _) = &found[0];
        return Redirect::to(&ticket_href(t, key)).into_response();
    }
    for e in &errors {
        body.push_str(&notice("error", &format!("The store cannot answer: {e}")));
    }
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|(t, key, what)| vec![esc(t.as_str()), a(&ticket_href(t, key), key), esc(what)])
        .collect();
    body.push_str(&table(
        &format!("Tickets named {name}"),
        &["Tenant", "Ticket", "Seen as"],
        &rows,
    ));
    page("Search", "/console/search", Some(&s), &body)
}

#[derive(Debug, Deserialize)]
pub struct TicketQuery {
    tenant: String,
    name: String,
}

pub async fn ticket(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    Query(tq): Query<TicketQuery>,
) -> Response {
    let mut body = search_form("");
    let tenant = TenantId::parse(tq.tenant.as_str())
        .ok()
        .filter(|t| s.principal.sees(t) && state.tenants().tenant(t.as_str()).is_some());
    let Some(tenant) = tenant else {
        body.push_str(&notice("error", &format!("No ticket {} here.", tq.name)));
        return super::html::page_with(
            axum::http::StatusCode::NOT_FOUND,
            "Ticket",
            "/console/search",
            Some(&s),
            &body,
        );
    };
    let srcs = sources(&state, &tenant);
    let limit = timeline::DEFAULT_LIMIT;
    match timeline::show(state.store.as_ref(), &tenant, &srcs, &tq.name, limit).await {
        Ok(t) => {
            body.push_str(&render(&t));
            page(
                &format!("Ticket {}", t.numbers.first().unwrap_or(&t.ticket_id)),
                "/console/search",
                Some(&s),
                &body,
            )
        }
        Err(e) => {
            body.push_str(&notice("error", &e.to_string()));
            super::html::page_with(
                axum::http::StatusCode::NOT_FOUND,
                "Ticket",
                "/console/search",
                Some(&s),
                &body,
            )
        }
    }
}

/// The timeline: who the ticket is, then every step in time order.
fn render(t: &Timeline) -> String {
    let mut out = String::from("<dl class=\"figures\">");
    let link = t
        .link
        .as_ref()
        .map(|l| format!("{} {}", l.api.as_str(), l.orange_id))
        .unwrap_or_else(|| "not linked".into());
    let status = t
        .remote_state
        .as_ref()
        .and_then(|r| r.status.clone())
        .unwrap_or_else(|| "—".into());
    for (k, v) in [
        ("Tenant", t.tenant.as_str().to_owned()),
        ("Source", t.source.clone()),
        ("ITSM id", t.ticket_id.clone()),
        ("Numbers", t.numbers.join(", ")),
        ("Orange", link),
        ("Orange status", status),
    ] {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{}</dd></div>", esc(&v));
    }
    out.push_str("</dl>");
    if t.truncated {
        out.push_str(&notice("ok", "Only the latest steps are shown."));
    }
    let rows: Vec<Vec<String>> = t
        .entries
        .iter()
        .map(|e| {
            let kind = e.step.label();
            vec![
                esc(&when(e.at)),
                format!("<span class=\"kind {kind}\">{kind}</span>"),
                esc(&e.summary),
            ]
        })
        .collect();
    out.push_str(&table("Timeline", &["When (UTC)", "Step", "What"], &rows));
    out
}
