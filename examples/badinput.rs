//! The bad-input run (`benches/badinput/run.sh`): hostile and careless requests against a
//! running gateway, each phase bounded, with the gateway's peak RSS (`VmHWM`, reset before
//! each phase through `/proc/PID/clear_refs`) and open descriptors after it.
//!
//! `badinput URL PID USER:PASSWORD`  (a ServiceNow source with Basic auth at URL; loopback)

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;

const MIB: usize = 1024 * 1024;

struct Gw {
    url: String,
    addr: String,
    pid: u32,
    auth: String,
    http: reqwest::Client,
}

impl Gw {
    fn status_kib(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }
    /// Resets the peak RSS, so that each phase reports its own.
    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }
    fn report(&self, phase: &str, started: Instant, outcome: String) {
        println!(
            "{phase:<58} {:>7.1}s  peak RSS {:>5} MB  RSS {:>5} MB  fds {:>5}  {outcome}",
            started.elapsed().as_secs_f64(),
            self.status_kib("VmHWM:") / 1024,
            self.status_kib("VmRSS:") / 1024,
            self.fds()
        );
        self.reset_peak();
    }

    async fn post(&self, body: reqwest::Body, len: usize, auth: &str) -> u16 {
        post(&self.http, &self.url, body, len, auth).await
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: reqwest::Body,
    len: usize,
    auth: &str,
) -> u16 {
    http.post(url)
        .header("content-type", "application/json")
        .header("content-length", len)
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// A ServiceNow update whose `u_attachment_text` (not mapped) holds `filler`.
fn big_event(i: usize, filler: &Bytes) -> (reqwest::Body, usize) {
    let head = Bytes::from(format!(
        r#"{{"operation":"update","sys_id":"{:032x}","sys_mod_count":"{i}","number":"INC{:07}","short_description":"big body","state":"2","impact":"1","urgency":"1","sys_updated_by":"abel.tuter","sys_updated_on":"2025-05-14 09:40:30","u_attachment_text":""#,
        0xbad_0000 + i,
        i
    ));
    let tail = Bytes::from_static(b"\"}");
    let len = head.len() + filler.len() + tail.len();
    let parts: Vec<Result<Bytes, std::io::Error>> = vec![Ok(head), Ok(filler.clone()), Ok(tail)];
    (
        reqwest::Body::wrap_stream(futures_util::stream::iter(parts)),
        len,
    )
}

fn tally(codes: &[u16]) -> String {
    let mut m = std::collections::BTreeMap::new();
    for c in codes {
        *m.entry(*c).or_insert(0) += 1;
    }
    m.iter()
        .map(|(c, n)| format!("{n}×{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn concurrent_big(gw: &Gw, n: usize, auth: &str, base: usize) -> String {
    let filler = Bytes::from(vec![b'x'; 10 * MIB - 4096]);
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (body, len) = big_event(base + i, &filler);
            let (http, url, auth) = (gw.http.clone(), gw.url.clone(), auth.to_owned());
            tokio::spawn(async move { post(&http, &url, body, len, &auth).await })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap_or(0));
    }
    tally(&codes)
}

async fn small(gw: &Gw, body: &[u8]) -> u16 {
    gw.post(reqwest::Body::from(body.to_vec()), body.len(), &gw.auth)
        .await
}

/// Opens `n` connections that each send `head` and then a byte every `every` (at most
/// `bytes` of them); returns how many the gateway closed within `within`, and when the last
/// closed.
async fn trickle(
    gw: &Gw,
    n: usize,
    head: &'static [u8],
    every: Duration,
    within: Duration,
) -> String {
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let addr = gw.addr.clone();
            tokio::spawn(async move {
                let Ok(mut s) = TcpStream::connect(&addr).await else {
                    return None;
                };
                if s.write_all(head).await.is_err() {
                    return Some(Instant::now());
                }
                let (mut r, mut w) = s.into_split();
                let writer = tokio::spawn(async move {
                    for _ in 0..600 {
                        tokio::time::sleep(every).await;
                        if w.write_all(b"x").await.is_err() {
                            return;
                        }
                    }
                });
                let mut buf = [0u8; 4096];
                let closed = tokio::time::timeout(within, async {
                    loop {
                        match r.read(&mut buf).await {
                            Ok(0) | Err(_) => return Instant::now(),
                            Ok(_) => {}
                        }
                    }
                })
                .await
                .ok();
                writer.abort();
                closed
            })
        })
        .collect();
    closed_by_gateway(tasks, started).await
}

/// How many of the connections `tasks` watch the gateway closed (a task gives the instant it
/// saw the close, `None` when it did not), and after how long since `started` the last one.
async fn closed_by_gateway(
    tasks: Vec<tokio::task::JoinHandle<Option<Instant>>>,
    started: Instant,
) -> String {
    let n = tasks.len();
    let mut closed = 0;
    let mut last = Duration::ZERO;
    for t in tasks {
        if let Ok(Some(at)) = t.await {
            closed += 1;
            last = last.max(at - started);
        }
    }
    format!(
        "{closed}/{n} closed by the gateway, the last after {:.1}s",
        last.as_secs_f64()
    )
}

/// Opens `n` connections, sends one request on each, keeps them idle; how many the gateway
/// closed within `within`.
async fn idle(gw: &Gw, n: usize, within: Duration) -> String {
    let req = format!(
        "GET /healthz HTTP/1.1\r\nhost: gw\r\nauthorization: {}\r\n\r\n",
        gw.auth
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (addr, req) = (gw.addr.clone(), req.clone());
            tokio::spawn(async move {
                let mut s = TcpStream::connect(&addr).await.ok()?;
                s.write_all(req.as_bytes()).await.ok()?;
                let mut buf = [0u8; 4096];
                tokio::time::timeout(within, async {
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return Instant::now(),
                            Ok(_) => {}
                        }
                    }
                })
                .await
                .ok()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "    ({} descriptors open with {n} idle connections)",
        gw.fds()
    );
    closed_by_gateway(tasks, started).await
}

#[tokio::main]
async fn main() {
    let args = support::args("badinput URL PID USER:PASSWORD");
    let url = args[1].clone();
    let addr = url::Url::parse(&url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port()?)))
        .expect("URL with host and port");
    let gw = Gw {
        url,
        addr,
        pid: args[2].parse().expect("PID"),
        auth: support::basic_auth(&args[3]),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client"),
    };
    println!(
        "start: RSS {} MB, fds {}",
        gw.status_kib("VmRSS:") / 1024,
        gw.fds()
    );
    gw.reset_peak();

    let t = Instant::now();
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let big_num = format!(
        r#"{{"operation":"insert","sys_id":"{:032x}","sys_mod_count":{},"number":"INC9","short_description":"n","x":1e999999}}"#,
        0xb16,
        "9".repeat(100_000)
    );
    let nul = r#"{"operation":"insert","sys_id":"0000000000000000000000000000a0a0","sys_mod_count":"0","number":"INC\u00001","short_description":"NUL\u0000 here","cmdb_ci_display":"x"}"#;
    let lone = r#"{"operation":"insert","sys_id":"0000000000000000000000000000a0a1","sys_mod_count":"0","number":"INC2","short_description":"half \ud800 an emoji"}"#;
    let codes = vec![
        small(&gw, nested.as_bytes()).await,
        small(&gw, big_num.as_bytes()).await,
        small(
            &gw,
            b"{\"operation\":\"insert\",\"short_description\":\"\xff\xfe\"}",
        )
        .await,
        small(&gw, nul.as_bytes()).await,
        small(&gw, lone.as_bytes()).await,
    ];
    gw.report(
        "nested 100k deep, 100k-digit number, bad UTF-8, NUL, \\ud800",
        t,
        format!("answers {codes:?}"),
    );

    let t = Instant::now();
    let out = concurrent_big(&gw, 40, &gw.auth, 0).await;
    gw.report("40 concurrent authenticated 10 MiB webhooks", t, out);

    let t = Instant::now();
    let wrong = support::basic_auth("intruder:wrong");
    let out = concurrent_big(&gw, 200, &wrong, 1000).await;
    gw.report("200 concurrent unauthenticated 10 MiB webhooks", t, out);

    let t = Instant::now();
    let out = trickle(
        &gw,
        500,
        b"POST /webhooks/bench/servicenow HTTP/1.1\r\nhost: gw\r\nx-slow: ",
        Duration::from_millis(500),
        Duration::from_secs(60),
    )
    .await;
    gw.report("500 slow heads (a byte every 500 ms)", t, out);

    let t = Instant::now();
    let head: &'static [u8] = Box::leak(
        format!(
            "POST /webhooks/bench/servicenow HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nauthorization: {}\r\ncontent-length: 100000\r\n\r\n{{",
            gw.auth
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let out = trickle(
        &gw,
        200,
        head,
        Duration::from_millis(500),
        Duration::from_secs(60),
    )
    .await;
    gw.report("200 slow bodies (a byte every 500 ms)", t, out);

    let t = Instant::now();
    let out = idle(&gw, 2000, Duration::from_secs(90)).await;
    gw.report("2000 idle kept-alive connections", t, out);

    println!(
        "end: RSS {} MB, fds {}",
        gw.status_kib("VmRSS:") / 1024,
        gw.fds()
    );
}
