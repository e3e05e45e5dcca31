//! Admin API for dead letters: list, show, replay, discard.
//!
//! NOTE: placeholder door; lands with the delivery issue.

use axum::Router;

use crate::http::AppState;

/// Routes mounted under `/admin/v1` (behind the admin token check).
pub fn routes() -> Router<AppState> {
    Router::new()
}
