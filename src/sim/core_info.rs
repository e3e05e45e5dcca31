//! Orange Core Information 2.4 under `/core-information/b2b/v2`: accounts, locations,
//! servicePoints and configurationItems (list with filters and paging, get by id) over the
//! seeded inventory, plus doc/status/version. English only, as documented.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::doc::{About, Op};
use super::error::OrangeError;
use super::query::{ListQuery, list_response};
use super::state::{Data, SimState};

type St = State<Arc<SimState>>;

#[derive(Clone, Copy)]
enum Collection {
    Accounts,
    Locations,
    ServicePoints,
    ConfigurationItems,
}

impl Collection {
    fn items(self, d: &Data) -> &[Value] {
        match self {
            Self::Accounts => &d.accounts,
            Self::Locations => &d.locations,
            Self::ServicePoints => &d.service_points,
            Self::ConfigurationItems => &d.configuration_items,
        }
    }
}

pub fn routes() -> Router<Arc<SimState>> {
    let mut r = Router::new();
    for (path, c) in [
        ("accounts", Collection::Accounts),
        ("locations", Collection::Locations),
        ("servicePoints", Collection::ServicePoints),
        ("configurationItems", Collection::ConfigurationItems),
    ] {
        r = r
            .route(
                &format!("/{path}"),
                get(move |st: St, q: RawQuery| list(st, q, c)),
            )
            .route(
                &format!("/{path}/{{id}}"),
                get(move |st: St, id: Path<String>| read(st, id, c)),
            );
    }
    r.merge(ABOUT.routes())
}

static ABOUT: About = About {
    title: "Core Information",
    name: "core-information",
    version: "2.4.0",
    build: None,
    base: super::CORE_INFORMATION_BASE,
    ops: &[
        Op {
            path: "/accounts",
            methods: &["get"],
            summary: "list accounts (filters, offset/limit)",
        },
        Op {
            path: "/accounts/{id}",
            methods: &["get"],
            summary: "read an account",
        },
        Op {
            path: "/locations",
            methods: &["get"],
            summary: "list locations (filters, offset/limit)",
        },
        Op {
            path: "/locations/{id}",
            methods: &["get"],
            summary: "read a location",
        },
        Op {
            path: "/servicePoints",
            methods: &["get"],
            summary: "list service points (filters, offset/limit)",
        },
        Op {
            path: "/servicePoints/{id}",
            methods: &["get"],
            summary: "read a service point",
        },
        Op {
            path: "/configurationItems",
            methods: &["get"],
            summary: "list configuration items (filters, offset/limit)",
        },
        Op {
            path: "/configurationItems/{id}",
            methods: &["get"],
            summary: "read a configuration item",
        },
    ],
};

async fn list(
    State(st): St,
    RawQuery(q): RawQuery,
    c: Collection,
) -> Result<Response, OrangeError> {
    let q = ListQuery::parse(q.as_deref(), &[])?;
    let d = st.data();
    let (total, page) = q.run(c.items(&d).iter());
    Ok(list_response(total, page))
}

async fn read(
    State(st): St,
    Path(id): Path<String>,
    c: Collection,
) -> Result<Json<Value>, OrangeError> {
    let d = st.data();
    c.items(&d)
        .iter()
        .find(|v| v["id"] == id.as_str())
        .cloned()
        .map(Json)
        .ok_or_else(|| OrangeError::with(60, format!("No resource with id '{id}'.")))
}
