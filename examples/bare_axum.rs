//! A bare axum handler (parse JSON, answer 202) for the ingest benchmark's baseline: the
//! gateway's throughput is reported beside this one, measured in the same run.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let app = Router::new().route(
        "/webhooks/{tenant}/{source}",
        post(|body: axum::body::Bytes| async move {
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(_) => (
                    StatusCode::ACCEPTED,
                    r#"{"eventId":"00000000-0000-0000-0000-000000000000","duplicate":false}"#,
                ),
                Err(_) => (StatusCode::BAD_REQUEST, "{}"),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
