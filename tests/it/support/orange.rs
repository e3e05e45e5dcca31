//! Orange's side of a round trip, in the simulator: what its engineers do to an incident, and
//! what has reached it from the ITSM.

use serde_json::json;

use super::eventually;
use crate::sim_support::Sim;

/// Orange moves its incident `orange_id` to `status` (`IN_PROGRESS`, `RESOLVED`, …).
pub async fn advance(sim: &Sim, orange_id: &str, status: &str) {
    let path = format!("/_sim/incidents/{orange_id}/advance");
    sim.control(&path, json!({"status": status})).await;
}

/// Orange adds the note `text` to its incident `orange_id`.
pub async fn note(sim: &Sim, orange_id: &str, text: &str) {
    let path = format!("/_sim/incidents/{orange_id}/notes");
    sim.control(&path, json!({"text": text})).await;
}

/// Orange takes its incident `orange_id` in hand: in progress, then the note `text`.
pub async fn works(sim: &Sim, orange_id: &str, text: &str) {
    advance(sim, orange_id, "IN_PROGRESS").await;
    note(sim, orange_id, text).await;
}

/// Waits until the Orange incident `orange_id` holds `n` notes (`what` names them).
pub async fn notes_reach(sim: &Sim, orange_id: &str, n: usize, what: &str) {
    let path = format!("/incident/b2b/v1/incidents/{orange_id}/notes");
    eventually(what, async || {
        let v = sim.orange_json(&path).await?;
        (v.as_array()?.len() == n).then_some(())
    })
    .await;
}
