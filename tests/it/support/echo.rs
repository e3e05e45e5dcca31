//! Echoes: the webhooks an ITSM fires for the gateway's own write-backs. The intake answers
//! them but stores nothing, and nothing of theirs goes back to Orange.

use itsm_bridge::domain::EventId;
use serde_json::Value;

use super::TestApp;
use crate::sim_support::Sim;

/// Asserts that the intake's `answer` to the webhook `echo` names an event it did not store.
pub async fn assert_dropped(app: &TestApp, answer: &Value, echo: &Value) {
    let id = EventId::parse(answer["eventId"].as_str().expect("an event id")).unwrap();
    let stored = app.store.event(id).await.unwrap();
    assert!(stored.is_none(), "an echo is not stored: {echo}");
}

/// Asserts, after half a second for any write in flight, that no note of the gateway's own
/// (`[Orange …]`) has reached the Orange incident `orange_id`.
pub async fn none_reached_orange(sim: &Sim, orange_id: &str) {
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let texts = sim.orange_note_texts(orange_id).await;
    assert!(
        !texts.iter().any(|t| t.starts_with("[Orange")),
        "echo reached Orange: {texts:?}"
    );
}
