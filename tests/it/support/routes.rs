//! The paths of the gateway's real router, for tests that walk every route (the admin API's
//! door, the OpenAPI document).
//!
//! axum does not list its routes; its `Debug` output prints every path (`RouteId(n):
//! "/admin/v1/…"`), nested routers flattened. Callers assert that routes they know are
//! found, so a change of that output fails their test instead of emptying it.

use std::collections::BTreeSet;

use itsm_bridge::App;
use reqwest::Method;

use super::TestApp;

/// The methods a route walk asks every path with.
pub const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The path templates (`/admin/v1/events/{id}`) of the router built for `app`.
pub fn router_paths(app: &App) -> BTreeSet<String> {
    let router = itsm_bridge::http::router(app.router_state());
    let debug = format!("{router:?}");
    debug
        .split("): \"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|p| p.starts_with('/') && !p.contains("__private__"))
        .map(str::to_owned)
        .collect()
}

impl TestApp {
    /// The path templates of the router this app serves (its config, store and mappings).
    pub fn router_paths(&self) -> BTreeSet<String> {
        router_paths(&App {
            config: self.config.clone(),
            store: self.store.clone(),
            mappings: self.mappings.clone(),
            live: std::sync::Arc::new(itsm_bridge::config::live::LiveConfig::new(
                self.config.clone(),
            )),
        })
    }
}
