//! `itsm-bridge healthcheck`: what the distroless image's HEALTHCHECK and a Kubernetes exec
//! probe run. Exit 0 when the gateway answers /readyz with 2xx, 1 with the reason otherwise.

use std::process::{Command, Output};

use crate::support::TestApp;

async fn healthcheck(url: String) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_itsm-bridge"))
            .args(["healthcheck", "--timeout-secs", "5", "--url", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_on_a_ready_gateway_and_1_with_the_reason_on_a_stopped_one() {
    let app = TestApp::spawn().await;
    let url = app.url("/readyz");
    let up = healthcheck(url.clone()).await;
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let missing = healthcheck(app.url("/no-such-endpoint")).await;
    assert_eq!(missing.status.code(), Some(1));
    let why = String::from_utf8_lossy(&missing.stderr);
    assert!(why.contains("404"), "{why}");

    app.stop().await;
    let down = healthcheck(url).await;
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).starts_with("unhealthy: "));
}
