//! `itsm-bridge tour`: the sandbox's four shipped examples, hop by hop, as a newcomer wants
//! to see them. Each demo event is posted to the gateway's webhook as its ITSM would send it;
//! then the tour reads back, through the admin API and the simulators' control API, what
//! happened at each hop: accepted, mapped, called, linked, changed at Orange, written back.
//!
//! It talks to a running `serve --sandbox` (the gateway and the simulators on their default
//! addresses), or, when no gateway answers there, starts one in-process on free ports with a
//! throw-away data folder. It reads and writes nothing else: no config, no credentials beyond
//! the documented sandbox ones.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::time::Instant;

mod examples;
mod sim;

use examples::{EXAMPLES, Example};

/// The sandbox's admin token and webhook secrets (README, "Sandbox secrets").
const ADMIN_TOKEN: &str = "sandbox-admin-token";
const SN_TOKEN: &str = "sandbox-servicenow-token";
const JIRA_SECRET: &str = "sandbox-jira-secret";
/// How long one hop may take before the tour says it did not happen.
const HOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the tour finds the sandbox.
#[derive(Debug, Clone)]
pub struct TourOptions {
    /// The gateway, e.g. `http://127.0.0.1:8080`.
    pub gateway: url::Url,
    /// The simulators, e.g. `http://127.0.0.1:8081`.
    pub sim: url::Url,
}

/// Runs the tour, printing to `out`; `Ok(false)` when some hop did not happen.
pub async fn tour(opts: &TourOptions, out: &mut dyn Write) -> anyhow::Result<bool> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let t = Tour {
        http,
        gateway: opts.gateway.clone(),
        sim: opts.sim.clone(),
    };
    t.ready().await?;
    writeln!(
        out,
        "itsm-bridge tour: the shipped examples, hop by hop\n\
         gateway {}   simulators {}\n",
        t.gateway.as_str().trim_end_matches('/'),
        t.sim.as_str().trim_end_matches('/')
    )?;
    let mut all_ok = true;
    for (n, ex) in EXAMPLES.iter().enumerate() {
        writeln!(out, "{}. {}   ({})", n + 1, ex.title, ex.mapping)?;
        let ok = t.example(ex, out).await?;
        all_ok &= ok;
        writeln!(out)?;
    }
    if all_ok {
        writeln!(
            out,
            "Every hop happened. The admin API shows the same story:\n  \
             curl -H 'authorization: Bearer {ADMIN_TOKEN}' {}admin/v1/events",
            t.gateway
        )?;
    } else {
        writeln!(
            out,
            "Some hops did not happen (marked !!); the gateway's log says why."
        )?;
    }
    Ok(all_ok)
}

/// Starts `serve --sandbox` in-process on free ports, with its data in a temporary folder,
/// and runs the tour against it.
pub async fn tour_in_process(
    mut config: crate::config::Config,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let dir = tempfile_dir()?;
    config.store.url = format!("sqlite://{}", dir.join("itsm-bridge.db").display());
    config.poller.interval_secs = 1;
    config.reload_interval_secs = 0;
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim = url::Url::parse(&format!("http://{}", sim_listener.local_addr()?))?;
    config.point_at_simulator(&sim);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway = url::Url::parse(&format!("http://{}", listener.local_addr()?))?;
    let token = tokio_util::sync::CancellationToken::new();
    let (t1, t2) = (token.clone(), token.clone());
    let sim_task = tokio::spawn(crate::sim::serve(
        sim_listener,
        crate::sim::SimOptions::default(),
        async move { t1.cancelled().await },
    ));
    let gw_task = tokio::spawn(crate::run(
        config,
        listener,
        async move { t2.cancelled().await },
    ));
    writeln!(
        out,
        "(no gateway answered; started the sandbox in-process, data in {})",
        dir.display()
    )?;
    let result = tour(&TourOptions { gateway, sim }, out).await;
    token.cancel();
    let _ = gw_task.await;
    let _ = sim_task.await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Whether a gateway answers `/readyz` at `gateway`.
pub async fn gateway_answers(gateway: &url::Url) -> bool {
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    let Ok(url) = gateway.join("readyz") else {
        return false;
    };
    http.get(url).send().await.is_ok()
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("itsm-bridge-tour-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

struct Tour {
    http: reqwest::Client,
    gateway: url::Url,
    sim: url::Url,
}

/// One line of the tour: `  ok  accepted    …` or `  !!  linked      …`.
fn hop(out: &mut dyn Write, ok: bool, name: &str, text: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "   {}  {name:<15} {text}",
        if ok { "ok" } else { "!!" }
    )
}

impl Tour {
    async fn ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + HOP_TIMEOUT;
        loop {
            let r = self.http.get(self.gateway.join("readyz")?).send().await;
            if r.as_ref().is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the gateway at {} is not ready", self.gateway);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let sim_ok = self.sim_journal_answers().await;
        if !sim_ok {
            bail!(
                "no simulators answer at {} (the tour needs `serve --sandbox`, or `--sim` pointing at `itsm-bridge sim`)",
                self.sim
            );
        }
        Ok(())
    }

    async fn sim_journal_answers(&self) -> bool {
        match self.sim.join("_sim/journal?since=0&method=NONE") {
            Ok(u) => self
                .http
                .get(u)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
            Err(_) => false,
        }
    }

    async fn example(&self, ex: &Example, out: &mut dyn Write) -> anyhow::Result<bool> {
        let mut ok = true;
        let mut events = Vec::new();
        for (name, body) in ex.events {
            let (status, v) = self.post(ex.source, body).await?;
            let file = name.rsplit('/').next().unwrap_or(name);
            if status != 202 {
                hop(out, false, "accepted", &format!("{file}: {status} {v}"))?;
                ok = false;
                continue;
            }
            let id = v["eventId"].as_str().unwrap_or_default().to_owned();
            let dup = v["duplicate"].as_bool().unwrap_or(false);
            let what = if dup {
                "a redelivery: duplicate, nothing new planned"
            } else if let Some(p) = v["parked"].as_str() {
                ok = false;
                &format!("parked: {p}")[..]
            } else {
                "stored"
            };
            hop(
                out,
                !v["parked"].is_string(),
                "accepted",
                &format!(
                    "{file} → 202 event {}… ({what})",
                    id.get(..13).unwrap_or(&id)
                ),
            )?;
            if !dup && !v["parked"].is_string() {
                events.push((file.to_owned(), id));
            }
        }
        for (file, id) in &events {
            ok &= self.deliveries(file, id, out).await?;
        }
        let ticket = format!("demo/{}/{}", ex.source, ex.ticket);
        let Some(orange_id) = self.link(&ticket).await? else {
            hop(out, false, "linked", &format!("{ticket}: no link"))?;
            return Ok(false);
        };
        hop(
            out,
            true,
            "linked",
            &format!("{ticket} ↔ Orange {} {orange_id}", ex.orange.label()),
        )?;
        let mark = self.journal_mark().await?;
        let changed = self.change_at_orange(ex.orange, &orange_id).await?;
        hop(
            out,
            changed.is_some(),
            "Orange changed",
            &changed
                .clone()
                .unwrap_or_else(|| "the simulator refused the change".into()),
        )?;
        if changed.is_none() {
            return Ok(false);
        }
        let backs = self.written_back(mark).await?;
        if backs.is_empty() {
            hop(
                out,
                false,
                "written back",
                "nothing reached the ITSM (is the poller on? `poller.enabled`)",
            )?;
            ok = false;
        }
        for b in backs {
            hop(out, true, "written back", &b)?;
        }
        Ok(ok)
    }

    async fn post(&self, source: &str, body: &[u8]) -> anyhow::Result<(u16, Value)> {
        let url = self.gateway.join(&format!("webhooks/demo/{source}"))?;
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        req = if source.starts_with("jira") {
            req.header(
                "x-hub-signature",
                crate::http::auth::hub_signature(JIRA_SECRET, body),
            )
        } else {
            req.bearer_auth(SN_TOKEN)
        };
        let r = req.send().await.context("posting a webhook")?;
        let status = r.status().as_u16();
        let v = r.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    async fn admin(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(self.gateway.join(path)?)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("admin API {path}: {}", r.status());
        }
        Ok(r.json().await?)
    }

    /// Prints what the event planned and how each call ended, once none is pending.
    async fn deliveries(&self, file: &str, id: &str, out: &mut dyn Write) -> anyhow::Result<bool> {
        let deadline = Instant::now() + HOP_TIMEOUT;
        let ev = loop {
            let ev = self.admin(&format!("admin/v1/events/{id}")).await?;
            let settled = ev["deliveries"].as_array().is_none_or(|ds| {
                ds.iter().all(|d| {
                    matches!(
                        d["delivery"]["state"].as_str(),
                        Some("done" | "dead" | "discarded")
                    )
                })
            });
            if settled || Instant::now() > deadline {
                break ev;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let ds = ev["deliveries"].as_array().cloned().unwrap_or_default();
        if ds.is_empty() {
            let why = ev["event"]["unrouted"]
                .as_str()
                .unwrap_or("the mapping planned no call for it");
            hop(out, true, "mapped", &format!("{file}: skipped ({why})"))?;
            return Ok(true);
        }
        let ops: Vec<&str> = ds
            .iter()
            .filter_map(|d| d["delivery"]["target"]["op"].as_str())
            .collect();
        hop(out, true, "mapped", &format!("{file} → {}", ops.join(", ")))?;
        let mut ok = true;
        for d in &ds {
            let state = d["delivery"]["state"].as_str().unwrap_or("?");
            let op = d["delivery"]["target"]["op"].as_str().unwrap_or("?");
            let attempts = d["attempts"].as_array().map_or(0, Vec::len);
            let last = d["attempts"]
                .as_array()
                .and_then(|a| a.last())
                .cloned()
                .unwrap_or(Value::Null);
            let how = match (last["http_status"].as_u64(), last["latency_ms"].as_u64()) {
                (Some(s), Some(ms)) => format!("HTTP {s}, {ms} ms"),
                (None, Some(ms)) => format!("{ms} ms"),
                _ => "no answer".into(),
            };
            let good = state == "done";
            ok &= good;
            let err = d["delivery"]["last_error"].as_str().unwrap_or("");
            hop(
                out,
                good,
                "called",
                &format!(
                    "{op}: {state} after {attempts} attempt{} ({how}){}",
                    if attempts == 1 { "" } else { "s" },
                    if err.is_empty() || good {
                        String::new()
                    } else {
                        format!(": {err}")
                    }
                ),
            )?;
        }
        Ok(ok)
    }

    async fn link(&self, ticket: &str) -> anyhow::Result<Option<String>> {
        let deadline = Instant::now() + HOP_TIMEOUT;
        loop {
            let v = self.admin("admin/v1/links?tenant=demo&limit=1000").await?;
            let found = v["links"].as_array().and_then(|ls| {
                ls.iter()
                    .find(|l| l["ticket"].as_str() == Some(ticket))
                    .and_then(|l| l["orange_id"].as_str().map(str::to_owned))
            });
            if found.is_some() || Instant::now() > deadline {
                return Ok(found);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
