//! Authentication of the ServiceNow and Jira simulators: HTTP Basic (ServiceNow service
//! account, Jira Cloud email + API token) or a Bearer token (ServiceNow OAuth, Jira Data
//! Center PAT). Failures are answered in each product's error shape.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::{jira_error, servicenow_error};
use super::state::SimState;

/// The ITSM user the call authenticated as (ServiceNow writes it into `sys_updated_by`).
#[derive(Debug, Clone)]
pub struct ItsmUser(pub String);

fn authenticate(st: &SimState, headers: &HeaderMap) -> Option<ItsmUser> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let o = &st.opts;
    if let Some(token) = value.strip_prefix("Bearer ") {
        let ok: bool = token
            .trim()
            .as_bytes()
            .ct_eq(o.itsm_bearer_token.as_bytes())
            .into();
        return ok.then(|| ItsmUser(o.itsm_username.clone()));
    }
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    let ok: bool = (user.as_bytes().ct_eq(o.itsm_username.as_bytes())
        & pass.as_bytes().ct_eq(o.itsm_password.as_bytes()))
    .into();
    ok.then(|| ItsmUser(user.to_owned()))
}

/// Lets the call through with its [`ItsmUser`], or answers `refused` (the product's 401).
async fn admit(
    st: &SimState,
    mut req: Request,
    next: Next,
    refused: impl FnOnce() -> Response,
) -> Response {
    match authenticate(st, req.headers()) {
        Some(user) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        None => refused(),
    }
}

pub async fn servicenow(State(st): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    admit(&st, req, next, || {
        servicenow_error(
            StatusCode::UNAUTHORIZED,
            "User Not Authenticated",
            "Required to provide Auth information",
        )
    })
    .await
}

pub async fn jira(State(st): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    admit(&st, req, next, || {
        jira_error(
            StatusCode::UNAUTHORIZED,
            &["You are not authenticated. Authentication required to perform this operation."],
            json!({}),
        )
    })
    .await
}

/// A write by an authenticated ITSM user, as the product's handlers read it: who, the path's
/// parameters, the raw query string and the raw body. Each product checks it its own way.
pub struct ItsmWrite<P> {
    pub user: ItsmUser,
    pub path: P,
    pub query: Option<String>,
    pub raw: Bytes,
}

impl<S, P> FromRequest<S> for ItsmWrite<P>
where
    S: Send + Sync,
    P: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Extension(user) = Extension::<ItsmUser>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(path) = Path::<P>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let query = parts.uri.query().map(str::to_owned);
        let raw = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            user,
            path,
            query,
            raw,
        })
    }
}
