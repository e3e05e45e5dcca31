//! Webhooks posted to the test config's acme ServiceNow source, and the simulator they are
//! delivered to: the steps most intake tests start with.

use itsm_bridge::sim::{SimHandle, SimOptions};
use reqwest::Response;
use serde_json::Value;

use super::{TestApp, acme_sn_basic, json};

/// The path of acme's ServiceNow source.
pub const ACME_SN: &str = "/webhooks/acme/servicenow";

/// A simulator on its default options.
pub async fn default_sim() -> SimHandle {
    itsm_bridge::sim::start(SimOptions::default())
        .await
        .expect("simulator starts")
}

/// Posts `body` to acme's ServiceNow source with its Basic credentials.
pub async fn post_acme_sn(app: &TestApp, body: impl Into<Vec<u8>>) -> Response {
    app.post(ACME_SN, body, &[acme_sn_basic()]).await
}

/// [`post_acme_sn`], asserting `status`: the JSON answer.
pub async fn acme_sn_json(app: &TestApp, body: impl Into<Vec<u8>>, status: u16) -> Value {
    json(post_acme_sn(app, body).await, status).await
}

/// Two tests of one scenario, `$run(store_url: Option<&str>)`: `$sqlite` on SQLite in the
/// app's folder, `$postgres` on a fresh `$prefix_…` schema of `TEST_DATABASE_URL` (SKIPPED
/// without it); each test carries the attributes given (`#[tokio::test …]`).
macro_rules! on_both_stores {
    (#[$test:meta] $prefix:literal, $run:path => $sqlite:ident, $postgres:ident) => {
        #[$test]
        async fn $sqlite() {
            $run(None).await;
        }

        #[$test]
        async fn $postgres() {
            let test = concat!(module_path!(), "::", stringify!($postgres));
            let Some(pg) = $crate::support::pg::Schema::create($prefix, test).await else {
                return;
            };
            $run(Some(&pg.url)).await;
            pg.drop().await;
        }
    };
}
pub(crate) use on_both_stores;
