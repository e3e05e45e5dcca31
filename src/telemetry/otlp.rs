//! Traces over OTLP/HTTP with JSON bodies, off unless an endpoint is configured
//! (`telemetry.otlp_endpoint`, else `OTEL_EXPORTER_OTLP_ENDPOINT`).
//!
//! Our own small exporter rather than opentelemetry + opentelemetry-otlp +
//! tracing-opentelemetry: those were not built here and pull tonic and prost (gRPC and
//! protobuf code generation) for what is, over OTLP/HTTP's JSON mapping, one POST of a JSON
//! document. The layer gives every `itsm_bridge` span a W3C trace and span id (a child keeps
//! its parent's trace; a span with a `traceparent` field continues that remote trace; a
//! `link` field holding a traceparent becomes a span link), and sends finished spans to a
//! bounded queue. A thread batches them (up to [`BATCH`] spans or [`FLUSH_EVERY`]) and posts
//! `{endpoint}/v1/traces`. When the collector is slow or down the queue fills and further
//! spans are dropped and counted (`itsm_bridge_otlp_spans_dropped_total`): tracing never
//! blocks or slows a request.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

/// Set once an exporter is installed: callers skip trace work (a store read) otherwise.
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether traces are exported.
pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Finished spans waiting for export; more are dropped.
const QUEUE: usize = 4096;
/// Spans per export request.
const BATCH: usize = 512;
/// A partial batch leaves after this long.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// The trace context of one span, kept in the span's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

impl SpanContext {
    /// The W3C `traceparent` header value naming this span (sampled).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-01",
            hex::encode(self.trace_id),
            hex::encode(self.span_id)
        )
    }

    /// Parses a W3C `traceparent` (version 00); `None` for anything else or all-zero ids.
    pub fn parse(tp: &str) -> Option<Self> {
        let mut parts = tp.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || flags.len() != 2 || parts.next().is_some() {
            return None;
        }
        let trace_id: [u8; 16] = hex::decode(trace).ok()?.try_into().ok()?;
        let span_id: [u8; 8] = hex::decode(span).ok()?.try_into().ok()?;
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(Self { trace_id, span_id })
    }
}

/// What the layer keeps for an open span.
struct Open {
    ctx: SpanContext,
    parent: Option<[u8; 8]>,
    start: SystemTime,
    attributes: Vec<(String, String)>,
    links: Vec<SpanContext>,
}

/// Field visitor: attributes, with `traceparent` and `link` taken apart.
#[derive(Default)]
struct Fields {
    attributes: Vec<(String, String)>,
    remote_parent: Option<SpanContext>,
    links: Vec<SpanContext>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "traceparent" => self.remote_parent = SpanContext::parse(value),
            "link" => self.links.extend(SpanContext::parse(value)),
            name => self.attributes.push((name.to_owned(), value.to_owned())),
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// The layer; [`install`] builds it with its export thread.
pub struct OtlpLayer {
    queue: SyncSender<Value>,
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let local_parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Open>().map(|o| o.ctx));
        let parent = local_parent.or(fields.remote_parent);
        let ctx = SpanContext {
            trace_id: parent.map_or_else(rand::random, |p| p.trace_id),
            span_id: rand::random(),
        };
        span.extensions_mut().insert(Open {
            ctx,
            parent: parent.map(|p| p.span_id),
            start: SystemTime::now(),
            attributes: fields.attributes,
            links: fields.links,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(open) = span.extensions_mut().get_mut::<Open>() {
            open.attributes.extend(fields.attributes);
            open.links.extend(fields.links);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        let json = span_json(span.name(), &open, SystemTime::now());
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(json)
        {
            metrics::counter!("itsm_bridge_otlp_spans_dropped_total").increment(1);
        }
    }
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .to_string()
}

/// One span in OTLP/JSON (ids in hex, times as decimal strings of Unix nanoseconds).
fn span_json(name: &str, open: &Open, end: SystemTime) -> Value {
    // The request span serves, outbound calls are clients, the rest is internal.
    let kind = match name {
        "request" => 2,
        "orange.call" | "itsm.call" => 3,
        _ => 1,
    };
    let mut span = json!({
        "traceId": hex::encode(open.ctx.trace_id),
        "spanId": hex::encode(open.ctx.span_id),
        "name": name,
        "kind": kind,
        "startTimeUnixNano": nanos(open.start),
        "endTimeUnixNano": nanos(end),
        "attributes": open.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
        "links": open.links.iter().map(|l| json!({
            "traceId": hex::encode(l.trace_id),
            "spanId": hex::encode(l.span_id),
        })).collect::<Vec<_>>(),
    });
    if let Some(p) = open.parent {
        span["parentSpanId"] = hex::encode(p).into();
    }
    span
}

fn attribute(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// The layer for `endpoint` (the collector's base URL, `/v1/traces` is appended), with its
/// export thread started. Only `itsm_bridge` spans at INFO or above are exported.
pub fn install<S>(endpoint: &url::Url, service: &str) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    let url = format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'));
    let service = service.to_owned();
    let spawned = std::thread::Builder::new()
        .name("otlp-export".into())
        .spawn(move || export_loop(rx, &url, &service));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the OTLP export thread; no traces will be sent");
    }
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    let targets =
        tracing_subscriber::filter::Targets::new().with_target("itsm_bridge", tracing::Level::INFO);
    OtlpLayer { queue: tx }.with_filter(targets)
}

/// Batches finished spans and posts them until every sender is gone.
fn export_loop(rx: Receiver<Value>, url: &str, service: &str) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let resource = json!({ "attributes": [
        attribute("service.name", service),
        attribute("service.version", env!("CARGO_PKG_VERSION")),
    ]});
    loop {
        let mut batch = Vec::new();
        match rx.recv() {
            Ok(s) => batch.push(s),
            Err(_) => return,
        }
        let deadline = std::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < BATCH {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(s) => batch.push(s),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let n = batch.len() as u64;
        let body = json!({ "resourceSpans": [{
            "resource": resource,
            "scopeSpans": [{ "scope": { "name": "itsm-bridge" }, "spans": batch }],
        }]});
        // Built inside the runtime: reqwest arms its timeout when the request is sent.
        let sent = rt.block_on(async { client.post(url).json(&body).send().await });
        let ok = sent.as_ref().is_ok_and(|r| r.status().is_success());
        if !ok {
            // Not logged per batch (a log line is a span event, and a down collector would
            // fill the log); counted instead.
            metrics::counter!("itsm_bridge_otlp_spans_dropped_total").increment(n);
            metrics::counter!("itsm_bridge_otlp_export_failures_total").increment(1);
        }
    }
}

/// The current span's trace context as a W3C `traceparent`, when tracing is on.
pub fn current_traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            span.extensions().get::<Open>().map(|o| o.ctx.traceparent())
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_refuses_what_is_not_version_00() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let c = SpanContext::parse(tp).unwrap();
        assert_eq!(c.traceparent(), tp);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert_eq!(SpanContext::parse(bad), None, "{bad}");
        }
    }
}
