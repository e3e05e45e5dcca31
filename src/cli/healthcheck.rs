//! `healthcheck`: one GET of the gateway's readiness endpoint, exit 0 when it answers 2xx and
//! 1 otherwise. For images without a shell or curl (distroless): the Dockerfile's
//! `HEALTHCHECK` and a Kubernetes `exec` probe run the binary itself.

use std::process::ExitCode;
use std::time::Duration;

/// The readiness URL of a gateway on its default address, from inside its container.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/readyz";

/// GETs `url` within `timeout`; says on stderr why it is not healthy.
pub async fn healthcheck(url: &str, timeout: Duration) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("unhealthy: cannot build an HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            eprintln!("unhealthy: {url} answered {status}: {body}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}
