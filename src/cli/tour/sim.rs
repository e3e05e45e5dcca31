//! What the tour does and reads at the simulators: a mark in their journal, a change made at
//! Orange, and the writes the gateway then made to the ITSM.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::examples::Orange;
use super::{HOP_TIMEOUT, Tour};

impl Tour {
    pub(super) async fn journal_mark(&self) -> anyhow::Result<u64> {
        let v: Value = self
            .http
            .get(self.sim.join("_sim/journal?since=0")?)
            .send()
            .await?
            .json()
            .await?;
        Ok(v.as_array()
            .and_then(|a| a.iter().filter_map(|e| e["seq"].as_u64()).max())
            .unwrap_or(0))
    }

    /// Advances the object one step and, for incidents, adds an Orange note.
    pub(super) async fn change_at_orange(
        &self,
        api: Orange,
        id: &str,
    ) -> anyhow::Result<Option<String>> {
        let url = self
            .sim
            .join(&format!("_sim/{}/{id}/advance", api.control()))?;
        let r = self.http.post(url).json(&json!({})).send().await?;
        if !r.status().is_success() {
            return Ok(None);
        }
        let v: Value = r.json().await.unwrap_or(Value::Null);
        let status = v["status"]
            .as_str()
            .or(v["step"].as_str())
            .or(v["state"].as_str())
            .unwrap_or("the next status");
        let mut text = format!("{} {id} → {status}", api.label());
        if let Orange::Incident = api {
            let note = "Orange engineer dispatched to site";
            let url = self.sim.join(&format!("_sim/incidents/{id}/notes"))?;
            let r = self
                .http
                .post(url)
                .json(&json!({ "text": note }))
                .send()
                .await?;
            if r.status().is_success() {
                text.push_str(&format!(", and an Orange note \"{note}\""));
            }
        }
        Ok(Some(text))
    }

    /// The ITSM writes the gateway made since `mark`, once the poller has had time to run.
    pub(super) async fn written_back(&self, mark: u64) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + HOP_TIMEOUT;
        let mut seen = Vec::new();
        let mut quiet_since = None;
        loop {
            let v: Value = self
                .http
                .get(self.sim.join(&format!("_sim/journal?since={mark}"))?)
                .send()
                .await?
                .json()
                .await?;
            let now: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|e| e["method"] != "GET")
                        .filter(|e| {
                            let p = e["path"].as_str().unwrap_or("");
                            p.starts_with("/api/now/") || p.starts_with("/rest/")
                        })
                        .map(|e| {
                            format!(
                                "{} {} → {}{}",
                                e["method"].as_str().unwrap_or("?"),
                                e["path"].as_str().unwrap_or("?"),
                                e["status"],
                                summary(e["body"].as_str().unwrap_or(""))
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if now.len() != seen.len() {
                seen = now;
                quiet_since = Some(Instant::now());
            }
            // Done once writes arrived and nothing new came for a poll interval or so.
            if quiet_since.is_some_and(|q| q.elapsed() > Duration::from_secs(3))
                || Instant::now() > deadline
            {
                return Ok(seen);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// What a write carried, in a few words: `: state=2, work_notes="Orange engineer…"`.
fn summary(body: &str) -> String {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(body) else {
        return String::new();
    };
    // Jira's edit wraps what it sets in `fields`.
    if let Some(Value::Object(inner)) = fields.get("fields").cloned() {
        fields = inner;
    }
    let shown: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => format!("{s:?}"),
                Value::Object(_) | Value::Array(_) => "{…}".into(),
                other => other.to_string(),
            };
            let text: String = if text.chars().count() > 42 {
                text.chars().take(40).collect::<String>() + "…\""
            } else {
                text
            };
            format!("{k}={text}")
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(": {}", shown.join(", "))
    }
}
