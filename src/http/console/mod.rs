//! The operator console (`/console`): server-rendered pages over the admin operations, served
//! by the gateway itself when the admin API is on (404 otherwise), assets in the binary.
//!
//! Sign-in is a POST of a token (`admin.token` or one of `admin.tokens`) that starts a
//! session kept in the store, so every replica knows it (`session.rs`); each page then sees what the token's [`Principal`] sees, and acts
//! through the same `http::admin::acts` as the admin API, so the tenant scope and the audit
//! log are one code path. Forms carry the session's CSRF token, and a POST whose `Origin` is
//! another site is refused. Viewers see no action buttons, and a forged action is refused.
//!
//! Pages: overview (`overview.rs`), search and a ticket's timeline (`search.rs`), events
//! (`events.rs`), dead letters and parked events (`dead.rs`), links (`links.rs`), the mapping
//! playground (`playground.rs`), mapping reloads and the audit log (`manage.rs`).

mod dead;
mod events;
pub mod html;
mod links;
mod manage;
mod overview;
mod overview_poll;
mod playground;
mod search;
pub mod session;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::AppState;
use super::admin::audit::{self, Act, actions};
use super::admin::principal::{Principal, authenticate};
use html::{esc, notice, page_with};
pub use session::Sessions;
use session::{Session, Signed};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// Routes under `/console`.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(overview::show))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/assets/console.css", get(|| asset(CSS, "text/css")))
        .route("/assets/console.js", get(|| asset(JS, "text/javascript")))
        .route("/search", get(search::search))
        .route("/ticket", get(search::ticket))
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::show))
        .route("/dead-letters", get(dead::show))
        .route("/dead-letters/act", post(dead::act))
        .route("/parked/act", post(dead::act_parked))
        .route("/links", get(links::show).post(links::add))
        .route("/playground", get(playground::show).post(playground::run))
        .route("/reload", get(manage::reload_state).post(manage::reload))
        .route("/audit", get(manage::audit))
        // Both fallbacks here, before the door: the outer router's would stand outside it.
        .fallback(|| async { bare(StatusCode::NOT_FOUND, "No such page.") })
        .method_not_allowed_fallback(|| async {
            bare(StatusCode::METHOD_NOT_ALLOWED, "Not with this method.")
        })
        .layer(middleware::from_fn_with_state(state, door))
}

/// Off (404) unless the admin API is on; a POST from another site's page is refused.
async fn door(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.config.admin.enabled() {
        // As if it were not mounted: the answer of any unknown path.
        return super::Problem::not_found("no such endpoint").into_response();
    }
    if req.method() == Method::POST && !same_origin(req.headers()) {
        return bare(
            StatusCode::FORBIDDEN,
            "A form from another site was refused.",
        );
    }
    next.run(req).await
}

/// A page without navigation (no session is looked at).
fn bare(status: StatusCode, text: &str) -> Response {
    page_with(status, "Not here", "", None, &notice("error", text))
}

/// Whether a request's `Origin` (when the browser sends one) is the host it was sent to.
fn same_origin(h: &HeaderMap) -> bool {
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, kind)], body).into_response();
    r = html::secure(r);
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("max-age=3600"),
    );
    r
}

/// A form body: its fields in order (a name may repeat, as checkboxes do).
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    /// A field's trimmed value, `None` when absent or blank.
    pub fn text(&self, k: &str) -> Option<&str> {
        self.get(k).map(str::trim).filter(|v| !v.is_empty())
    }
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A page that says why something was refused.
pub fn refused(s: &Session, status: StatusCode, current: &str, why: &str) -> Response {
    page_with(status, "Not done", current, Some(s), &notice("error", why))
}

/// Checks a form that acts: the session's CSRF token, and a role that may act. `Some` is the
/// refusal to answer.
pub fn acting(s: &Session, form: &Form, current: &str) -> Option<Response> {
    if !s.csrf_ok(form.get("csrf")) {
        return Some(refused(
            s,
            StatusCode::FORBIDDEN,
            current,
            "The form is stale or did not come from this console; reload the page and try again.",
        ));
    }
    if !s.principal.can_act() {
        return Some(refused(
            s,
            StatusCode::FORBIDDEN,
            current,
            &format!(
                "Token {} is a viewer: it reads, and cannot act.",
                s.principal.name
            ),
        ));
    }
    None
}

fn sign_in_page(status: StatusCode, message: Option<&str>) -> Response {
    let body = format!(
        "{}<form method=\"post\" action=\"/console/sign-in\" class=\"sign-in\">\
         <label for=\"token\">Token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" \
         required autofocus>\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"hint\">The admin token, or a named token from <code>admin.tokens</code>. \
         It is sent once, in this form's body; the console keeps a session cookie instead.</p>",
        message.map(|m| notice("error", m)).unwrap_or_default()
    );
    page_with(status, "Sign in", "", None, &body)
}

async fn sign_in_form() -> Response {
    sign_in_page(StatusCode::OK, None)
}

async fn sign_in(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let token = form.get("token").unwrap_or("");
    let Some(principal) = authenticate(&state.config.admin, token.as_bytes()) else {
        tracing::info!("console sign-in refused: unknown token");
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("That token is not known here."),
        );
    };
    let id = match state
        .console
        .start(&principal, time::OffsetDateTime::now_utc())
        .await
    {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "console sign-in failed: cannot store the session");
            return sign_in_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The store is unavailable; try again shortly."),
            );
        }
    };
    record_sign(&state, &principal, actions::SIGN_IN).await;
    let mut r = Redirect::to("/console").into_response();
    if let Ok(v) = session::set_cookie(&id, &headers).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    html::secure(r)
}

async fn sign_out(State(state): State<AppState>, Signed(s, id): Signed, body: Bytes) -> Response {
    if !s.csrf_ok(Form::parse(&body).get("csrf")) {
        return refused(
            &s,
            StatusCode::FORBIDDEN,
            "",
            "The form is stale; reload and try again.",
        );
    }
    if let Err(e) = state.console.end(&id).await {
        tracing::warn!(error = %e, "console sign-out failed: cannot end the session");
        return refused(
            &s,
            StatusCode::SERVICE_UNAVAILABLE,
            "",
            "The store is unavailable; you are still signed in. Try again shortly.",
        );
    }
    record_sign(&state, &s.principal, actions::SIGN_OUT).await;
    let mut r = Redirect::to("/console/sign-in").into_response();
    if let Ok(v) = session::clear_cookie().parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    html::secure(r)
}

async fn record_sign(state: &AppState, who: &Principal, action: &'static str) {
    let act = Act {
        action,
        tenant: None,
        target: "console".into(),
    };
    let scope = match who.tenants() {
        None => "every tenant".to_owned(),
        Some(ts) => ts.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
    };
    let detail = format!("{} of {scope}", who.role.as_str());
    audit::record(state.store.as_ref(), &who.name, act, Ok(detail)).await;
}

/// The tenants a session sees, in config order.
pub fn tenants(state: &AppState, s: &Session) -> Vec<crate::domain::TenantId> {
    state
        .tenants()
        .tenants
        .iter()
        .filter(|t| s.principal.sees(&t.id))
        .map(|t| t.id.clone())
        .collect()
}

/// A link to a page, escaped.
pub fn a(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}
