//! Attachment downloads against local servers: redirects stay on the ITSM's origin, and a
//! body without Content-Length streams into the upload and stops at the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{Notify, mpsc};

use super::{AttachmentSource, download_client};
use crate::config::{ItsmConfig, OutboundAuth, RateLimit, Secret, ServicenowTarget};
use crate::domain::FailureClass;

async fn serve(router: Router) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    url::Url::parse(&format!("http://{addr}/")).unwrap()
}

fn source(itsm: &url::Url, max_bytes: u64) -> AttachmentSource {
    AttachmentSource {
        http: download_client(Duration::from_secs(10)),
        itsm: ItsmConfig {
            servicenow: Some(ServicenowTarget {
                base_url: itsm.clone(),
                auth: OutboundAuth::Basic {
                    username: "u".into(),
                    password: Secret::new("itsm-password"),
                },
                integration_user: None,
                rate_limit: RateLimit::default(),
            }),
            jira: None,
        },
        max_bytes,
    }
}

#[tokio::test]
async fn a_redirect_off_the_itsm_origin_is_refused_and_its_target_gets_nothing() {
    let hits = Arc::new(AtomicU64::new(0));
    let counted = hits.clone();
    let internal = serve(Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "internal secret" }
    }))
    .await;
    let target = internal.join("metadata").unwrap().to_string();
    let itsm = serve(
        Router::new()
            .route(
                "/away",
                get(move || async move {
                    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
                }),
            )
            .route(
                "/moved",
                get(|| async {
                    (StatusCode::FOUND, [(header::LOCATION, "/file")]).into_response()
                }),
            )
            .route("/file", get(|| async { "attachment" })),
    )
    .await;
    let src = source(&itsm, 1024);

    let err = src
        .open(itsm.join("away").unwrap().as_str(), "f.txt", None)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.class, FailureClass::Permanent, "{err:?}");
    assert!(
        err.message.contains("outside the ITSM's origin"),
        "{}",
        err.message
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the internal server was reached"
    );

    // A redirect inside the origin is followed.
    assert!(
        src.open(itsm.join("moved").unwrap().as_str(), "f.txt", None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_body_without_length_streams_into_the_upload_and_stops_at_the_limit() {
    const CHUNK: usize = 16 * 1024;
    const LIMIT: u64 = 256 * 1024;
    const ENDLESS: u64 = 64 * 1024 * 1024;
    let upload_started = Arc::new(Notify::new());
    let sent = Arc::new(AtomicU64::new(0));

    // The ITSM sends one chunk, then the rest only once the upload has begun: a download
    // that is buffered before it is uploaded would wait here for ever.
    let (started, counter) = (upload_started.clone(), sent.clone());
    let itsm = serve(Router::new().route(
        "/big",
        get(move || {
            let (started, counter) = (started.clone(), counter.clone());
            async move {
                let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
                tokio::spawn(async move {
                    let chunk = Bytes::from(vec![b'x'; CHUNK]);
                    counter.fetch_add(CHUNK as u64, Ordering::SeqCst);
                    if tx.send(Ok(chunk.clone())).await.is_err() {
                        return;
                    }
                    if tokio::time::timeout(Duration::from_secs(20), started.notified())
                        .await
                        .is_err()
                    {
                        return; // ends the body: what a buffering download would upload
                    }
                    while counter.load(Ordering::SeqCst) < ENDLESS {
                        if tx.send(Ok(chunk.clone())).await.is_err() {
                            return;
                        }
                        counter.fetch_add(CHUNK as u64, Ordering::SeqCst);
                    }
                });
                Body::from_stream(tokio_stream_of(rx))
            }
        }),
    ))
    .await;

    let received = Arc::new(AtomicU64::new(0));
    let (started, got) = (upload_started.clone(), received.clone());
    let orange = serve(Router::new().route(
        "/upload",
        post(move |body: Body| async move {
            use futures_util::StreamExt;
            let mut stream = body.into_data_stream();
            while let Some(Ok(c)) = stream.next().await {
                if got.fetch_add(c.len() as u64, Ordering::SeqCst) == 0 {
                    started.notify_one();
                }
            }
            StatusCode::CREATED
        }),
    ))
    .await;

    let src = source(&itsm, LIMIT);
    let download = src
        .open(itsm.join("big").unwrap().as_str(), "big.bin", None)
        .await
        .expect("opened");
    let over = download.over_limit.clone();
    let upload = reqwest::Client::new()
        .post(orange.join("upload").unwrap())
        .multipart(download.form)
        .send()
        .await;
    assert!(
        upload.is_err(),
        "an over-limit upload must not complete: {upload:?}"
    );
    assert!(over.load(Ordering::SeqCst), "the limit stopped the stream");
    assert!(
        received.load(Ordering::SeqCst) > 0,
        "the upload began before the download ended"
    );
    assert!(
        sent.load(Ordering::SeqCst) < ENDLESS,
        "the download was not read to its end"
    );
    let failure = super::too_big_failure(LIMIT);
    assert_eq!(failure.class, FailureClass::Permanent);
}

fn tokio_stream_of(
    mut rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn source_on_both_itsms() -> AttachmentSource {
    let itsm: ItsmConfig = serde_json::from_value(serde_json::json!({
        "servicenow": {"base_url": "https://acme.service-now.com",
                       "auth": {"type": "basic", "username": "u", "password": "p"}},
        "jira": {"base_url": "https://acme.atlassian.net",
                 "auth": {"type": "basic", "username": "u", "password": "p"}},
    }))
    .expect("itsm config");
    AttachmentSource {
        http: reqwest::Client::new(),
        itsm,
        max_bytes: 1024,
    }
}

#[test]
fn a_path_only_link_is_taken_on_the_tenant_s_own_itsm() {
    let s = source_on_both_itsms();
    let sn = s.resolve("/api/now/attachment/5f1b/file").unwrap();
    assert_eq!(
        sn.as_str(),
        "https://acme.service-now.com/api/now/attachment/5f1b/file"
    );
    let jira = s.resolve("/rest/api/2/attachment/content/10001").unwrap();
    assert_eq!(
        jira.origin(),
        url::Url::parse("https://acme.atlassian.net")
            .unwrap()
            .origin()
    );
    let abs = s.resolve("https://elsewhere.example/x").unwrap();
    assert!(
        s.auth_for(&abs).is_none(),
        "another origin gets no credentials"
    );
    assert!(s.resolve("api/now/attachment/5f1b/file").is_err());
}
