//! Mapping throughput: the shipped ServiceNow → Incident mapping on a realistic business-rule
//! payload, bytes in → request body bytes out, beside the same transform written in jq
//! (`benches/servicenow-incident.jq`) run in-process by jaq and by the `jq` binary (one
//! process for a batch of events). Command and figures: benches/README.md.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;
use itsm_bridge::domain::SourceKind;
use itsm_bridge::mapping::{Incoming, Mapping};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;

const EVENT: &str = "mappings/demo/events/servicenow/incident-insert.json";
const MAPPING: &str = "mappings/demo/servicenow-incident.yaml";
const JQ_PROGRAM: &str = "benches/servicenow-incident.jq";
/// Events per `jq` process run.
const JQ_BATCH: u64 = 20_000;

fn event_bytes() -> Vec<u8> {
    // Compact, as a business rule's JSON.stringify sends it.
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(EVENT).expect("fixture")).expect("json");
    serde_json::to_vec(&v).expect("json")
}

fn ours(c: &mut Criterion) {
    let mapping =
        Mapping::from_file(Path::new(MAPPING), MAPPING).expect("the shipped mapping compiles");
    let raw = event_bytes();
    let headers = HeaderMap::new();
    let mut g = c.benchmark_group("servicenow_to_incident");
    g.throughput(Throughput::Elements(1));
    g.bench_function("itsm_bridge_mapping", |b| {
        b.iter(|| {
            let body: serde_json::Value = serde_json::from_slice(&raw).expect("json");
            let mapped = mapping
                .apply(&Incoming {
                    kind: SourceKind::Servicenow,
                    headers: &headers,
                    body: &body,
                    raw: &raw,
                })
                .expect("maps");
            serde_json::to_vec(&mapped.calls[0].body).expect("json")
        })
    });
    g.finish();
}

fn jaq(c: &mut Criterion) {
    let code = std::fs::read_to_string(JQ_PROGRAM).expect("jq program");
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(
            &arena,
            File {
                code: code.as_str(),
                path: (),
            },
        )
        .expect("parses");
    let filter = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .expect("compiles");
    let raw = event_bytes();
    let mut g = c.benchmark_group("servicenow_to_incident");
    g.throughput(Throughput::Elements(1));
    g.bench_function("jaq_in_process", |b| {
        b.iter(|| {
            let input = jaq_json::read::parse_single(&raw).expect("json");
            let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
            let out = filter
                .id
                .run((ctx, input))
                .map(unwrap_valr)
                .next()
                .expect("one output")
                .expect("ok");
            out.to_string().into_bytes()
        })
    });
    g.finish();
}

fn jq_binary(c: &mut Criterion) {
    if Command::new("jq").arg("--version").output().is_err() {
        eprintln!("jq binary not found: skipping the jq comparison (apt-get install -y jq)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = dir.path().join("events.ndjson");
    let mut f = std::fs::File::create(&batch).expect("batch file");
    let line = event_bytes();
    for _ in 0..JQ_BATCH {
        f.write_all(&line)
            .and_then(|_| f.write_all(b"\n"))
            .expect("write");
    }
    drop(f);
    let mut g = c.benchmark_group("servicenow_to_incident");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(JQ_BATCH));
    g.bench_function(format!("jq_binary_batch_{JQ_BATCH}"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let out = Command::new("jq")
                    .args(["-c", "-f", JQ_PROGRAM])
                    .arg(&batch)
                    .stderr(Stdio::inherit())
                    .output()
                    .expect("jq runs");
                assert!(out.status.success());
                assert_eq!(
                    out.stdout.iter().filter(|&&b| b == b'\n').count() as u64,
                    JQ_BATCH
                );
            }
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, ours, jaq, jq_binary);
criterion_main!(benches);
