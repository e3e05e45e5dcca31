//! One connection's clocks and its socket: [`Activity`] says which timeout applies now,
//! [`Watched`] wraps the socket to feed it (and to rewrite hyper's automatic error answers
//! into problem+json), [`TrackedBody`] marks the end of each response.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ServerLimits;
use crate::http::problem::{PROBLEM_JSON, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request's head is being read (or awaited on a fresh connection).
    Head,
    /// This many requests are being handled or answered.
    Busy(u32),
    /// Between requests, kept alive.
    Idle,
}

/// Which of a connection's clocks runs, and since when.
pub(super) struct Activity {
    state: Mutex<(Phase, Instant)>,
    changed: Notify,
}

impl Activity {
    /// A fresh connection: its first request's head is due within the header timeout.
    pub fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new((Phase::Head, now)),
            changed: Notify::new(),
        }
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let next = f(s.0);
        if next != s.0 {
            *s = (next, Instant::now());
            drop(s);
            // The watchdog recomputes its deadline.
            self.changed.notify_one();
        }
    }

    /// Bytes arrived: on an idle connection, they begin the next request's head.
    fn bytes_read(&self) {
        self.set(|p| if p == Phase::Idle { Phase::Head } else { p });
    }

    pub fn request_started(&self) {
        self.set(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
    }

    fn response_finished(&self) {
        self.set(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle,
        });
    }

    /// When the running clock runs out; `None` while busy.
    pub fn deadline(&self, limits: &ServerLimits) -> Option<Instant> {
        let (phase, since) = *self.state.lock().unwrap_or_else(|p| p.into_inner());
        match phase {
            Phase::Head => Some(since + limits.header_read_timeout),
            Phase::Idle => Some(since + limits.idle_timeout),
            Phase::Busy(_) => None,
        }
    }

    /// Which clock ran out at `now`, if one did (a metrics label).
    pub fn expired(&self, now: Instant, limits: &ServerLimits) -> Option<&'static str> {
        let (phase, _) = *self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = self.deadline(limits)?;
        (now >= due).then_some(match phase {
            Phase::Idle => "idle_timeout",
            _ => "header_read_timeout",
        })
    }

    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A response body that tells the connection's [`Activity`] when it has been sent (or dropped).
pub(super) struct TrackedBody {
    inner: Body,
    activity: Option<Arc<Activity>>,
}

impl TrackedBody {
    pub fn new(inner: Body, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity: Some(activity),
        }
    }
    fn finish(&mut self) {
        if let Some(a) = self.activity.take() {
            a.response_finished();
        }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.finish();
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = r {
            this.finish();
        }
        r
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's socket, watched: reads move the [`Activity`]; hyper's automatic answers
/// to requests it cannot parse are replaced by problem+json.
pub(super) struct Watched<S> {
    io: S,
    activity: Arc<Activity>,
    /// A replacement answer being written, and how many bytes of hyper's it stands for.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<S> Watched<S> {
    pub fn new(io: S, activity: Arc<Activity>) -> Self {
        Self {
            io,
            activity,
            replacing: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> Watched<S> {
    /// Writes the replacement answer to the end; then says hyper's bytes were written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, written, stands_for)) = self.replacing.as_mut() {
            if *written == bytes.len() {
                let n = *stands_for;
                self.replacing = None;
                return Poll::Ready(Ok(n));
            }
            match Pin::new(&mut self.io).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                other => return other,
            }
        }
        Poll::Ready(Ok(0))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none()
            && let Some(answer) = automatic_answer(buf)
        {
            this.replacing = Some((answer, 0, buf.len()));
        }
        if this.replacing.is_some() {
            return this.poll_replacement(cx);
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // hyper's automatic answers are a head alone, written in one slice.
        let first = bufs.iter().find(|b| !b.is_empty());
        if this.replacing.is_some() || first.is_some_and(|b| automatic_answer(b).is_some()) {
            let first = first.map_or(&[][..], |b| &b[..]);
            return Pin::new(this).poll_write(cx, first);
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The problem+json answer standing for `buf` when `buf` is one of hyper's automatic answers
/// to a request it could not parse: a 400, 414 or 431 head with `content-length: 0` and no
/// body. Every answer of the gateway's own with those statuses carries a problem body, so
/// nothing else looks like this.
fn automatic_answer(buf: &[u8]) -> Option<Vec<u8>> {
    let status_line = buf.strip_prefix(b"HTTP/1.1 ")?;
    let (status, detail) = match status_line.get(..4)? {
        b"400 " => (
            StatusCode::BAD_REQUEST,
            "the request line or a header cannot be parsed",
        ),
        b"414 " => (
            StatusCode::URI_TOO_LONG,
            "the request target is longer than the server reads",
        ),
        b"431 " => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request head has more or larger headers than the server reads",
        ),
        _ => return None,
    };
    if !buf.ends_with(b"\r\n\r\n") || buf.windows(4).filter(|w| w == b"\r\n\r\n").count() != 1 {
        return None;
    }
    let head = String::from_utf8_lossy(buf).to_ascii_lowercase();
    if !head.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = Problem::for_status(status).detail(detail).to_json();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_s_empty_parse_error_answers_are_replaced() {
        let auto = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 07:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(automatic_answer(auto).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(out.contains("content-type: application/problem+json\r\n"));
        assert!(out.ends_with(r#""code":"headers-too-large","detail":"the request head has more or larger headers than the server reads"}"#));
        // A head with a body, another status, or a body after the head is left alone.
        assert!(
            automatic_answer(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n").is_none()
        );
        assert!(automatic_answer(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(automatic_answer(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\n\r\n").is_none());
        assert!(automatic_answer(b"{\"HTTP/1.1 400 \"").is_none());
    }
}
