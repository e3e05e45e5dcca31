//! The HTTP/1.1 server: accepts connections on the bound listener, at most
//! `server.max_connections` at once, serves each with hyper under the configured timeouts,
//! and drains on shutdown.
//!
//! `axum::serve` has no header-read or idle timeout and no connection cap, so hyper's
//! connection builder is driven here directly. hyper's own header-read timer starts when it
//! begins waiting for a request, idle time included; the gateway wants two clocks (a short one
//! for a request's head once it has begun, a longer one for an idle kept-alive connection), so
//! each connection has a watchdog fed by its [`conn_io::Activity`]: bytes read start a head,
//! a request handed to the router makes it busy (its body and handler have their own limits,
//! `http::body` and the router's timeout), the end of its response makes it idle.
//!
//! hyper answers a request it cannot parse before any service runs, with an empty body
//! (400, 414, 431); [`conn_io`] turns those answers into problem+json on their way out.

mod conn_io;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ServerConfig;
use conn_io::{Activity, TrackedBody, Watched};

/// Largest request head (line and headers) hyper buffers: a webhook's head is a few KB, and
/// each open connection may hold this much (hyper's default is ~400 KB).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Pause after an accept error that is not about one connection (out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The timeouts and the cap the server applies.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ServerLimits {
    pub fn from_config(c: &ServerConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(c.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(c.idle_timeout_secs),
            max_connections: c.max_connections.max(1),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish its request in progress, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    let drain = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        // A connection is accepted only with a free slot: over the cap, clients wait in the
        // kernel's listen backlog and cost the gateway no descriptor.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the connection semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _peer)) => stream,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (router, limits, drain) = (router.clone(), limits.clone(), drain.clone());
        tracker.spawn(async move {
            metrics::gauge!("itsm_bridge_http_connections").increment(1.0);
            serve_connection(stream, router, &limits, drain).await;
            metrics::gauge!("itsm_bridge_http_connections").decrement(1.0);
            drop(slot);
        });
    }
    drop(listener);
    drain.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Errors of one connection (it was reset before it was accepted): the listener is fine.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    )
}

/// Serves one connection until it closes, its head or idle clock runs out, or (after `drain`)
/// its request in progress is answered.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: &ServerLimits,
    drain: CancellationToken,
) {
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            activity.request_started();
            let (router, activity) = (router.clone(), activity.clone());
            async move {
                let resp = match router.oneshot(req.map(axum::body::Body::new)).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(resp.map(|b| TrackedBody::new(b, activity)))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The watchdog below keeps the head and idle clocks (hyper's one clock runs both).
        .header_read_timeout(None)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = activity.deadline(limits);
        tokio::select! {
            // The connection first, so bytes already arrived move its clock before a check.
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.changed() => {}
            () = sleep_until(deadline) => {
                if let Some(reason) = activity.expired(Instant::now(), limits) {
                    metrics::counter!("itsm_bridge_http_connections_closed_total", "reason" => reason)
                        .increment(1);
                    tracing::debug!(reason, "connection closed by its timeout");
                    return;
                }
            }
            () = drain.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
