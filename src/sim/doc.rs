//! `GET {base}/doc` of every Orange simulator API: a Swagger 2.0 document of what that
//! simulator serves — each path with its methods and a one-line summary — as Orange's APIs
//! publish theirs at `/doc`. One table per API, next to its routes, so the document and the
//! router are read side by side; `tests/it/sim_other_orange.rs` checks that every documented
//! GET path answers.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::state::SimState;

/// One path the simulator serves: its methods (lower case) and what it does.
#[derive(Clone, Copy)]
pub struct Op {
    pub path: &'static str,
    pub methods: &'static [&'static str],
    pub summary: &'static str,
}

/// The paths every Orange API serves besides its own: its status, its version and this
/// document (Wholesale has no `/version`; it lists its own `/status` and `/doc`).
pub const STATUS_VERSION_DOC: [Op; 3] = [
    Op {
        path: "/status",
        methods: &["get"],
        summary: "API status",
    },
    Op {
        path: "/version",
        methods: &["get"],
        summary: "API version",
    },
    Op {
        path: "/doc",
        methods: &["get"],
        summary: "this document",
    },
];

/// What an Orange API (Wholesale aside, see [`STATUS_VERSION_DOC`]) says about itself.
pub struct About {
    /// The document's title.
    pub title: &'static str,
    /// The `name` its `/status` answers.
    pub name: &'static str,
    pub version: &'static str,
    /// The `build` its `/version` answers, where the real API reports one.
    pub build: Option<&'static str>,
    pub base: &'static str,
    /// Its own paths; `/status`, `/version` and `/doc` are added.
    pub ops: &'static [Op],
}

impl About {
    /// `GET /status`, `GET /version` and `GET /doc`.
    pub fn routes(&'static self) -> Router<Arc<SimState>> {
        Router::new()
            .route("/status", get(move || async move { Json(self.status()) }))
            .route("/version", get(move || async move { Json(self.version()) }))
            .route("/doc", get(move || async move { Json(self.document()) }))
    }

    fn status(&self) -> Value {
        json!({"status": "ok", "name": self.name, "version": self.version})
    }

    fn version(&self) -> Value {
        let mut v = json!({"version": self.version});
        if let Some(b) = self.build {
            v["build"] = json!(b);
        }
        v
    }

    fn document(&self) -> Value {
        let ops: Vec<Op> = self
            .ops
            .iter()
            .chain(&STATUS_VERSION_DOC)
            .copied()
            .collect();
        swagger(self.title, self.version, self.base, &ops)
    }
}

/// The Swagger 2.0 document of an API served under `base`.
pub fn swagger(title: &str, version: &str, base: &str, ops: &[Op]) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let methods: Map<String, Value> = op
            .methods
            .iter()
            .map(|m| {
                let params: Vec<Value> = placeholders(op.path)
                    .map(|p| json!({"name": p, "in": "path", "required": true, "type": "string"}))
                    .collect();
                (
                    (*m).to_owned(),
                    json!({"summary": op.summary, "parameters": params, "produces": ["application/json"],
                           "responses": {"default": {"description": "see the Orange documentation"}}}),
                )
            })
            .collect();
        paths.insert(op.path.to_owned(), Value::Object(methods));
    }
    json!({"swagger": "2.0", "info": {"title": format!("{title} (itsm-bridge simulator)"), "version": version},
           "basePath": base, "schemes": ["http"], "paths": paths})
}

fn placeholders(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}
