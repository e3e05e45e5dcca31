//! The overview: per tenant the seen, the last hour's webhooks, deliveries, errors and Orange
//! calls per minute (small charts from the store's timestamps; the calls against the rate
//! budget), the queue (pending, oldest pending, waiting for a link, in flight), dead letters,
//! parked and unrouted events, the last poll cycle (`overview_poll.rs`), and the state of its
//! mappings. The figures are `ops::overview`'s, which `GET /admin/v1/overview` serves as JSON.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Response;

use super::a;
use super::html::{age, bars, bars_against, esc, page, q};
use super::session::Signed;
use crate::http::AppState;
use crate::ops::overview::{Budget, MINUTES, TenantOverview, tenant_overview};

pub async fn show(State(state): State<AppState>, Signed(s, _): Signed) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let mut body = String::new();
    let status = state.mappings.status();
    let config = state.tenants();
    for tc in config.tenants.iter().filter(|t| s.principal.sees(&t.id)) {
        let t = tc.id.clone();
        let card = match tenant_overview(&*state.store, tc, &config.poller, now).await {
            Ok(o) => card(&o, now),
            Err(e) => format!(
                "<section class=\"tenant\"><h2>{}</h2>{}</section>",
                esc(t.as_str()),
                super::html::notice("error", &format!("The store cannot answer: {e}"))
            ),
        };
        body.push_str(&card);
        let mut maps = String::new();
        for ((tenant, source), e) in status.entries.iter().filter(|((x, _), _)| *x == t) {
            let _ = tenant;
            let state_text = match (&e.loaded, e.refused()) {
                (_, true) => "refused at the last reload (last good version serves)".to_owned(),
                (Some(v), false) => format!(
                    "serving {} since {}",
                    short(&v.hash),
                    super::html::when(v.loaded_at)
                ),
                (None, false) => "not loaded".to_owned(),
            };
            let _ = write!(
                maps,
                "<li><strong>{}</strong> ({}): {}</li>",
                esc(source.as_str()),
                esc(&e.file),
                esc(&state_text)
            );
        }
        if !maps.is_empty() {
            let _ = write!(
                body,
                "<section class=\"maps\"><h3>Mappings of {}</h3><ul>{maps}</ul></section>",
                esc(t.as_str())
            );
        }
    }
    if body.is_empty() {
        body = "<p class=\"empty\">This token sees no tenant.</p>".into();
    }
    page("Overview", "/console", Some(&s), &body)
}

fn short(hash: &str) -> &str {
    hash.get(..19).unwrap_or(hash)
}

/// One tenant's card.
fn card(o: &TenantOverview, now: time::OffsetDateTime) -> String {
    let (t, act) = (&o.tenant, &o.activity);
    let first = o.since.unix_timestamp() / 60;
    let mut series = [[0_u64; MINUTES as usize]; 3];
    let (mut unrouted, mut parked_recent) = (0, 0);
    for m in &act.minutes {
        let i = m.minute - first;
        if (0..MINUTES).contains(&i) {
            let i = i as usize;
            series[0][i] = m.events;
            series[1][i] = m.delivered;
            series[2][i] = m.failed;
            unrouted += m.unrouted;
            parked_recent += m.parked;
        }
    }
    let oldest = act
        .oldest_pending
        .map(|o| age((now - o).whole_seconds()))
        .unwrap_or_else(|| "—".into());
    let tq = q(t.as_str());
    let dead_link = a(
        &format!("/console/dead-letters?tenant={tq}"),
        &act.dead.to_string(),
    );
    let parked_link = a(
        &format!("/console/dead-letters?tenant={tq}#parked"),
        &act.parked.to_string(),
    );
    let unrouted_link = a(
        &format!("/console/events?tenant={tq}&state=unrouted"),
        &unrouted.to_string(),
    );
    format!(
        "<section class=\"tenant\" aria-labelledby=\"t-{id}\"><h2 id=\"t-{id}\">{name}</h2>\
         <div class=\"charts\">{c0}{c1}{c2}{c3}</div>\
         <dl class=\"figures\">\
         <div><dt>Pending</dt><dd>{pending}</dd></div>\
         <div><dt>Oldest pending</dt><dd>{oldest}</dd></div>\
         <div><dt>Waiting for a link</dt><dd>{waiting}</dd></div>\
         <div><dt>In flight</dt><dd>{in_flight}</dd></div>\
         <div><dt>Dead letters</dt><dd>{dead_link}</dd></div>\
         <div><dt>Parked</dt><dd>{parked_link}</dd></div>\
         <div><dt>Parked, last hour</dt><dd>{parked_recent}</dd></div>\
         <div><dt>Unrouted, last hour</dt><dd>{unrouted_link}</dd></div>\
         {budget}</dl>{poll}</section>",
        id = esc(t.as_str()),
        name = esc(t.as_str()),
        c0 = bars("Webhooks / min", &series[0], "events"),
        c1 = bars("Delivered / min", &series[1], "delivered"),
        c2 = bars("Failed attempts / min", &series[2], "failed"),
        c3 = budget_chart(&o.budget),
        budget = budget_figures(&o.budget),
        poll = super::overview_poll::section(&o.poll),
        pending = act.pending,
        waiting = act.waiting_link,
        in_flight = act.in_flight,
    )
}

/// Orange calls a minute, a full bar being the whole budget.
fn budget_chart(b: &Budget) -> String {
    let total: u64 = b.calls.iter().sum();
    let label = "Orange calls / min";
    match (b.per_minute, b.peak_percent) {
        (Some(full), Some(peak)) => bars_against(
            label,
            &b.calls,
            "budget",
            full,
            &format!("{total} in the last hour, busiest minute at {peak}% of {full} a minute"),
            &format!("{total} (budget {full}/min)"),
        ),
        _ => bars_against(
            label,
            &b.calls,
            "budget",
            b.calls.iter().copied().max().unwrap_or(0),
            &format!("{total} in the last hour, no rate limit"),
            &format!("{total} (no limit)"),
        ),
    }
}

/// The budget's figures, as `<div>`s of the figures' list.
fn budget_figures(b: &Budget) -> String {
    match (b.peak_percent, b.hour_percent) {
        (Some(peak), Some(hour)) => format!(
            "<div><dt>Rate budget, busiest minute</dt><dd>{peak}%</dd></div>\
             <div><dt>Rate budget, last hour</dt><dd>{hour}%</dd></div>"
        ),
        _ => "<div><dt>Rate budget</dt><dd>no limit</dd></div>".to_owned(),
    }
}
