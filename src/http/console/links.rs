//! Links: a tenant's links (ITSM ticket ↔ Orange object) by ticket key with paging, a search
//! by ticket id or Orange id, and a form to link a ticket by hand (through
//! `http::admin::acts`: tenant scope and audit).

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::html::{csrf_field, esc, input, next_page, notice, page, q, select, table, when};
use super::session::{Session, Signed};
use super::{Form, a, acting, refused, tenants};
use crate::domain::{Link, OrangeApi, TenantId, TicketKey};
use crate::http::AppState;
use crate::http::admin::acts;
use crate::ops::links::LinkRequest;

const HERE: &str = "/console/links";
const PAGE: u32 = 100;
const APIS: [OrangeApi; 3] = [
    OrangeApi::Incident,
    OrangeApi::TroubleTicket,
    OrangeApi::Ordering,
];

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
}

async fn render(state: &AppState, s: &Session, sq: &ShowQuery, top: String) -> Response {
    let visible = tenants(state, s);
    let tenant = match sq.tenant.trim() {
        "" => visible.first().cloned(),
        t => match TenantId::parse(t).ok().filter(|t| visible.contains(t)) {
            Some(t) => Some(t),
            None => {
                return refused(
                    s,
                    StatusCode::FORBIDDEN,
                    HERE,
                    &format!("This token does not see tenant {t}."),
                );
            }
        },
    };
    let Some(tenant) = tenant else {
        return page(
            "Links",
            HERE,
            Some(s),
            "<p class=\"empty\">This token sees no tenant.</p>",
        );
    };
    let names: Vec<String> = visible.iter().map(|t| t.as_str().to_owned()).collect();
    let sources: Vec<String> = state
        .tenants()
        .tenant(tenant.as_str())
        .map(|c| c.sources.keys().map(|k| k.as_str().to_owned()).collect())
        .unwrap_or_default();
    let mut body = top;
    let _ = write!(
        body,
        "<form method=\"get\" action=\"{HERE}\" class=\"filters\" role=\"search\">{}{}\
         <button type=\"submit\">Search</button></form>",
        select("tenant", "Tenant", &names, tenant.as_str(), None),
        input("q", "Ticket id or Orange id", &sq.q, "")
    );
    let store = state.store.as_ref();
    let mut links: Vec<Link> = Vec::new();
    let name = sq.q.trim();
    let result = if name.is_empty() {
        let after = Some(sq.after.trim())
            .filter(|a| !a.is_empty())
            .map(|a| TicketKey::from_stored(a.to_owned()));
        store
            .list_links(&tenant, after.as_ref(), PAGE)
            .await
            .map(|l| links = l)
    } else {
        async {
            for api in APIS {
                links.extend(store.link_by_orange(&tenant, api, name).await?);
            }
            for src in &sources {
                if let Ok(src) = crate::domain::SourceName::parse(src.as_str()) {
                    links.extend(store.link(&TicketKey::new(&tenant, &src, name)).await?);
                }
            }
            Ok(())
        }
        .await
    };
    if let Err(e) = result {
        body.push_str(&notice("error", &format!("The store cannot answer: {e}")));
    }
    links.dedup_by(|a, b| a.ticket == b.ticket);
    let rows: Vec<Vec<String>> = links
        .iter()
        .map(|l| {
            vec![
                a(
                    &format!(
                        "/console/ticket?tenant={}&name={}",
                        q(l.tenant.as_str()),
                        q(l.ticket.as_str())
                    ),
                    l.ticket.ticket(),
                ),
                esc(l.source.as_str()),
                esc(l.api.as_str()),
                esc(&l.orange_id),
                esc(&when(l.created_at)),
            ]
        })
        .collect();
    body.push_str(&table(
        &format!("Links of {tenant}"),
        &[
            "Ticket",
            "Source",
            "Orange API",
            "Orange id",
            "Linked (UTC)",
        ],
        &rows,
    ));
    // A look-up by name is not paged.
    if name.is_empty() {
        body.push_str(&next_page(&links, PAGE, "More links", |last| {
            format!(
                "{HERE}?tenant={}&after={}",
                q(tenant.as_str()),
                q(last.ticket.as_str())
            )
        }));
    }
    if s.principal.can_act() {
        let apis: Vec<String> = APIS.iter().map(|a| a.as_str().to_owned()).collect();
        let _ = write!(
            body,
            "<h2 id=\"add\">Link a ticket by hand</h2>\
             <form method=\"post\" action=\"{HERE}\" class=\"stack\">{}\
             <input type=\"hidden\" name=\"tenant\" value=\"{}\">{}{}{}{}\
             <button type=\"submit\">Link</button></form>",
            csrf_field(s),
            esc(tenant.as_str()),
            input(
                "ticket",
                "ITSM ticket id (sys_id, issue key or id)",
                "",
                "required"
            ),
            input("orange_id", "Orange id", "", "required"),
            select("api", "Orange API", &apis, "incident", None),
            select(
                "source",
                "Source",
                &sources,
                "",
                Some("(the only one, or the one waiting)")
            ),
        );
    }
    page("Links", HERE, Some(s), &body)
}

pub async fn show(
    State(state): State<AppState>,
    Signed(s, _): Signed,
    Query(sq): Query<ShowQuery>,
) -> Response {
    render(&state, &s, &sq, String::new()).await
}

pub async fn add(State(state): State<AppState>, Signed(s, _): Signed, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = acting(&s, &form, HERE) {
        return r;
    }
    let req = LinkRequest {
        tenant: form.get("tenant").unwrap_or("").to_owned(),
        ticket: form.get("ticket").unwrap_or("").to_owned(),
        orange_id: form.get("orange_id").unwrap_or("").to_owned(),
        api: form.text("api").map(str::to_owned),
        source: form.text("source").map(str::to_owned),
    };
    let sq = ShowQuery {
        tenant: req.tenant.clone(),
        ..ShowQuery::default()
    };
    match acts::add_link(&state, &s.principal, &req).await {
        Ok(l) => {
            let text = if l.added {
                format!(
                    "{} linked to {} {}; {} waiting delivery(ies) due now.",
                    l.ticket, l.api, l.orange_id, l.woken
                )
            } else {
                format!("{} was already linked so.", l.ticket)
            };
            render(&state, &s, &sq, notice("ok", &text)).await
        }
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
            let detail = p.detail.clone().unwrap_or_else(|| p.title.to_owned());
            let r = render(&state, &s, &sq, notice("error", &detail)).await;
            if r.status() == StatusCode::OK {
                let (_, body) = r.into_parts();
                let mut r = Response::new(body);
                *r.status_mut() = status;
                return super::html::secure(with_html(r));
            }
            r
        }
    }
}

fn with_html(mut r: Response) -> Response {
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}
