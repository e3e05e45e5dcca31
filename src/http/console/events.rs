//! Events: a filtered list (tenant, source, state, event type, received before a time),
//! newest first with paging, and one event with its headers, body and deliveries.

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::html::{esc, input, next_page, notice, page, page_with, q, select, table, when};
use super::session::Signed;
use super::{a, tenants};
use crate::domain::{EventId, StoredEvent, TenantId};
use crate::http::AppState;
use crate::store::{EventQuery, EventState};

const PAGE: u32 = 50;
/// Pages of the store read at most to fill one page when a source is chosen (the store
/// filters by tenant, state and type; the source is filtered here).
const SCAN_PAGES: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    event_type: String,
    /// `YYYY-MM-DDTHH:MM` (UTC): events received before then.
    #[serde(default)]
    before_time: String,
    /// Paging: events older than this id.
    #[serde(default)]
    after: String,
}

/// What the mapping made of an event, in a few words.
pub fn outcome(e: &StoredEvent) -> String {
    let d = &e.disposition;
    if let Some(x) = &e.discarded {
        return format!("discarded (was parked: {})", x.parked.detail);
    }
    match (&d.parked, d.unrouted, &d.skipped) {
        (Some(p), _, _) => format!("parked: {}", p.detail),
        (None, true, _) => "unrouted".into(),
        (None, false, Some(s)) => format!("skipped: {s}"),
        _ => "routed".into(),
    }
}

fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(s.trim(), &f)
        .ok()
        .map(|p| p.assume_utc())
}

pub async fn list(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    Query(f): Query<Filters>,
) -> Response {
    let visible = tenants(&state, &s);
    let names: Vec<String> = visible.iter().map(|t| t.as_str().to_owned()).collect();
    let sources: Vec<String> = {
        let mut v: Vec<String> = state
            .tenants()
            .tenants
            .iter()
            .filter(|t| s.principal.sees(&t.id))
            .flat_map(|t| t.sources.keys().map(|k| k.as_str().to_owned()))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut body = format!(
        "<form method=\"get\" action=\"/console/events\" class=\"filters\">{}{}{}{}{}\
         <button type=\"submit\">Filter</button></form>",
        select("tenant", "Tenant", &names, &f.tenant, Some("all")),
        select("source", "Source", &sources, &f.source, Some("all")),
        select(
            "state",
            "State",
            &["parked".into(), "unrouted".into(), "discarded".into()],
            &f.state,
            Some("any")
        ),
        input("event_type", "Event type", &f.event_type, ""),
        input(
            "before_time",
            "Received before (UTC)",
            &f.before_time,
            "type=\"datetime-local\""
        ),
    );
    let problem = |m: &str| notice("error", m);
    let tenant = match f.tenant.trim() {
        "" => None,
        t => match TenantId::parse(t).ok().filter(|t| visible.contains(t)) {
            Some(t) => Some(t),
            None => {
                body.push_str(&problem(&format!("This token does not see tenant {t}.")));
                return page_with(
                    StatusCode::FORBIDDEN,
                    "Events",
                    "/console/events",
                    Some(&s),
                    &body,
                );
            }
        },
    };
    let mut before = match f.after.trim() {
        "" => None,
        id => EventId::parse(id).ok(),
    };
    if before.is_none() && !f.before_time.trim().is_empty() {
        match parse_time(&f.before_time) {
            Some(t) => before = EventId::parse(&crate::store::activity::first_id_at(t)).ok(),
            None => body.push_str(&problem(
                "The time is not YYYY-MM-DDTHH:MM; it was ignored.",
            )),
        }
    }
    let state_filter = EventState::parse(f.state.trim());
    let event_type = Some(f.event_type.trim().to_owned()).filter(|t| !t.is_empty());
    let source = f.source.trim();
    let mut found: Vec<StoredEvent> = Vec::new();
    let filters = if tenant.is_some() {
        vec![tenant.clone()]
    } else {
        visible.iter().cloned().map(Some).collect()
    };
    let mut last_read = None;
    for t in filters {
        let mut cursor = before;
        for _ in 0..SCAN_PAGES {
            let query = EventQuery {
                tenant: t.clone(),
                ticket: None,
                before: cursor,
                limit: PAGE,
                state: state_filter,
                event_type: event_type.clone(),
            };
            let page = match state.store.list_events(&query).await {
                Ok(p) => p,
                Err(e) => {
                    body.push_str(&problem(&format!("The store cannot answer: {e}")));
                    break;
                }
            };
            let full = page.len() == PAGE as usize;
            cursor = page.last().map(|e| e.id);
            found.extend(
                page.into_iter()
                    .filter(|e| source.is_empty() || e.source.as_str() == source),
            );
            if !full || found.len() >= PAGE as usize || source.is_empty() {
                break;
            }
        }
        last_read = last_read.max(cursor);
    }
    found.sort_by_key(|e| std::cmp::Reverse(e.id));
    found.truncate(PAGE as usize);
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|e| {
            vec![
                esc(&when(e.received_at)),
                esc(e.tenant.as_str()),
                esc(e.source.as_str()),
                a(&format!("/console/events/{}", e.id), &e.event_type),
                esc(e.ticket_number.as_deref().unwrap_or(e.ticket.ticket())),
                esc(&outcome(e)),
            ]
        })
        .collect();
    body.push_str(&table(
        "Events, newest first",
        &[
            "Received (UTC)",
            "Tenant",
            "Source",
            "Type",
            "Ticket",
            "Outcome",
        ],
        &rows,
    ));
    body.push_str(&next_page(&found, PAGE, "Older events", |last| {
        format!(
            "/console/events?tenant={}&source={}&state={}&event_type={}&after={}",
            q(&f.tenant),
            q(&f.source),
            q(&f.state),
            q(&f.event_type),
            last.id
        )
    }));
    page("Events", "/console/events", Some(&s), &body)
}

pub async fn show(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    Path(raw): Path<String>,
) -> Response {
    let missing = |s: &super::Session| {
        page_with(
            StatusCode::NOT_FOUND,
            "Event",
            "/console/events",
            Some(s),
            &notice("error", &format!("No event {raw}.")),
        )
    };
    let Ok(id) = EventId::parse(&raw) else {
        return missing(&s);
    };
    let e = match state.store.event(id).await {
        Ok(Some(e)) if s.principal.sees(&e.tenant) => e,
        Ok(_) => return missing(&s),
        Err(err) => {
            return page_with(
                StatusCode::SERVICE_UNAVAILABLE,
                "Event",
                "/console/events",
                Some(&s),
                &notice("error", &err.to_string()),
            );
        }
    };
    let mut body = String::from("<dl class=\"figures\">");
    let number = e
        .ticket_number
        .clone()
        .unwrap_or_else(|| e.ticket.ticket().to_owned());
    for (k, v) in [
        ("Received (UTC)", when(e.received_at)),
        ("Tenant", e.tenant.as_str().to_owned()),
        ("Source", e.source.as_str().to_owned()),
        ("Type", e.event_type.clone()),
        ("Dedupe key", e.dedupe_key.clone()),
        ("Outcome", outcome(&e)),
    ] {
        let _ = write!(body, "<div><dt>{k}</dt><dd>{}</dd></div>", esc(&v));
    }
    let _ = write!(
        body,
        "<div><dt>Ticket</dt><dd>{}</dd></div></dl>",
        a(
            &format!(
                "/console/ticket?tenant={}&name={}",
                q(e.tenant.as_str()),
                q(e.ticket.as_str())
            ),
            &number
        )
    );
    if let Some(p) = &e.disposition.parked {
        let _ = write!(
            body,
            "{}",
            notice(
                "error",
                &format!(
                    "Parked: {} (rule {}, at {})",
                    p.detail,
                    p.rule.as_deref().unwrap_or("—"),
                    p.pointer.as_deref().unwrap_or("—")
                )
            )
        );
    }
    if let Some(x) = &e.discarded {
        let _ = write!(
            body,
            "{}",
            notice(
                "ok",
                &format!(
                    "Discarded at {} (UTC); it was parked: {} (rule {}, at {})",
                    when(x.at),
                    x.parked.detail,
                    x.parked.rule.as_deref().unwrap_or("—"),
                    x.parked.pointer.as_deref().unwrap_or("—")
                )
            )
        );
    }
    let headers: Vec<Vec<String>> = e
        .headers
        .iter()
        .map(|(k, v)| vec![esc(k), esc(v)])
        .collect();
    body.push_str(&table(
        "Headers (signatures are not kept)",
        &["Name", "Value"],
        &headers,
    ));
    let pretty = serde_json::from_slice::<serde_json::Value>(&e.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&e.body).into_owned());
    let _ = write!(
        body,
        "<h2>Body</h2><pre class=\"body\">{}</pre>",
        esc(&pretty)
    );
    if let Ok(ds) = state.store.event_deliveries(id).await {
        let rows: Vec<Vec<String>> = ds
            .iter()
            .map(|d| {
                vec![
                    d.id.to_string(),
                    esc(&crate::ops::timeline::operation(&d.target)),
                    esc(d.state.as_str()),
                    d.attempts.to_string(),
                    esc(d.last_error.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        body.push_str(&table(
            "Deliveries",
            &["#", "Call", "State", "Attempts", "Last error"],
            &rows,
        ));
    }
    page(
        &format!("Event {}", e.event_type),
        "/console/events",
        Some(&s),
        &body,
    )
}
