//! The Orange clients' metrics, named in one place.

use std::time::Duration;

/// One HTTP exchange with Orange: `api` is `incident`, `token`, …; `status` the HTTP status
/// or `error` when no response came back.
pub fn request(api: &str, status: &str, took: Duration) {
    metrics::histogram!(
        "itsm_bridge_orange_request_seconds",
        "api" => api.to_owned(),
        "status" => status.to_owned()
    )
    .record(took.as_secs_f64());
}
