//! Attachments whose download announces no length, held in memory under one budget for the
//! whole process.
//!
//! The upload to Orange is a multipart form with a `Content-Length`, so an attachment of
//! unknown length is read whole before it is sent. Each such download first reserves its
//! limit (`delivery.max_attachment_bytes`, at most the budget) from [`BUDGET_BYTES`], keeps
//! what it actually read once complete, and gives that back when its upload is over (or
//! dropped): with 64 deliveries at once, unknown-length attachments take at most the budget,
//! not 64 × the limit. A download that cannot get its share in [`WAIT`] fails as retryable;
//! the delivery is tried again later.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use reqwest::multipart::Part;
use tokio::sync::Semaphore;

use super::error;
use crate::domain::{CallFailure, FailureClass};

/// Bytes of unknown-length attachments held at once, across all deliveries of the process.
pub const BUDGET_BYTES: u64 = 64 * 1024 * 1024;
/// The budget counts KiB, so that any limit fits a semaphore's `u32` acquire.
const UNIT: u64 = 1024;
/// How long a download waits for its share of the budget before it is retried later.
const WAIT: Duration = Duration::from_secs(30);

static BUDGET: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(units(BUDGET_BYTES))));

fn units(bytes: u64) -> usize {
    usize::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(usize::MAX)
}

fn retryable(message: String) -> CallFailure {
    CallFailure {
        // A GET is safe to repeat: never "unknown".
        class: FailureClass::Retryable { retry_after: None },
        http_status: None,
        code: None,
        message,
    }
}

/// Reads a download of unknown length (at most `max_bytes`) into a part that returns its
/// share of the process's budget once sent.
pub(super) async fn buffered_part(
    resp: reqwest::Response,
    max_bytes: u64,
) -> Result<Part, CallFailure> {
    buffer_within(&BUDGET, resp.bytes_stream(), max_bytes).await
}

async fn buffer_within<S, E>(
    budget: &Arc<Semaphore>,
    mut stream: S,
    max_bytes: u64,
) -> Result<Part, CallFailure>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let reserve = units(max_bytes.min(BUDGET_BYTES));
    let mut permit = tokio::time::timeout(
        WAIT,
        budget
            .clone()
            .acquire_many_owned(u32::try_from(reserve).unwrap_or(u32::MAX)),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(|| {
        retryable("attachment buffers are all in use (an unknown-length download waits)".into())
    })?;
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| retryable(format!("attachment download failed: {e}")))?;
        if (buf.len() + chunk.len()) as u64 > max_bytes {
            return Err(error::permanent(format!(
                "attachment of more than {max_bytes} bytes is over the limit of {max_bytes} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    // Keep only what was read.
    let keep = units(buf.len() as u64).min(permit.num_permits());
    drop(permit.split(permit.num_permits() - keep));
    let len = buf.len() as u64;
    let body =
        futures_util::stream::iter([Ok::<_, std::io::Error>(buf.freeze())]).map(move |chunk| {
            // The permit lives as long as the body: returned once the upload is over.
            let _held = &permit;
            chunk
        });
    Ok(Part::stream_with_length(
        reqwest::Body::wrap_stream(body),
        len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(n: usize, size: usize) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures_util::stream::iter((0..n).map(move |_| Ok(Bytes::from(vec![b'x'; size]))))
    }

    #[tokio::test]
    async fn unknown_length_downloads_share_one_budget_until_their_upload_is_dropped() {
        let budget = Arc::new(Semaphore::new(units(BUDGET_BYTES)));
        let limit = BUDGET_BYTES / 2;
        // Each reserves its limit while reading, then keeps what it read (1 MiB).
        let a = buffer_within(&budget, chunks(16, 64 * 1024), limit)
            .await
            .unwrap();
        assert_eq!(budget.available_permits(), units(BUDGET_BYTES) - 1024);
        let b = buffer_within(&budget, chunks(16, 64 * 1024), limit)
            .await
            .unwrap();
        assert_eq!(budget.available_permits(), units(BUDGET_BYTES) - 2048);
        drop((a, b));
        assert_eq!(budget.available_permits(), units(BUDGET_BYTES));
    }

    #[tokio::test(start_paused = true)]
    async fn a_download_that_cannot_get_its_share_is_retried_later() {
        let budget = Arc::new(Semaphore::new(units(BUDGET_BYTES)));
        let _all = budget
            .clone()
            .acquire_many_owned(u32::try_from(units(BUDGET_BYTES)).unwrap())
            .await
            .unwrap();
        let e = buffer_within(&budget, chunks(1, 10), 1024)
            .await
            .unwrap_err();
        assert!(matches!(e.class, FailureClass::Retryable { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn a_download_over_the_limit_is_refused_and_returns_its_share() {
        let budget = Arc::new(Semaphore::new(units(BUDGET_BYTES)));
        let e = buffer_within(&budget, chunks(3, 1024), 2048)
            .await
            .unwrap_err();
        assert_eq!(e.class, FailureClass::Permanent, "{e:?}");
        assert_eq!(budget.available_permits(), units(BUDGET_BYTES));
    }
}
