//! Was a call already applied? Asked before retrying a call whose earlier attempt may have
//! reached Orange (a dropped connection or timeout after sending, or an error answer from a
//! server that applied the change anyway), so a retry never adds a second note or attachment.
//!
//! Creates are settled by their external reference ([`OrangeClient::find_created`]);
//! this covers the other operations by reading the linked object back. The test is "every
//! field we sent is there with the value we sent", so an identical note written earlier to
//! the same incident also counts as applied: a repeated identical note is the lesser harm.

use http::Method;
use serde_json::Value;

use crate::domain::{CallFailure, OrangeApi, OrangeCall, OrangeOp};

use super::client::OrangeClient;
use super::transport::Payload;
use super::wire;

/// Page size used when reading notes and attachments back.
const PAGE: u32 = 100;
/// Most items read back before giving up and answering "not applied" (then retried).
const MAX_ITEMS: usize = 5_000;

/// True when every field of `sent` is in `seen` with the same value.
pub fn contains(seen: &Value, sent: &Value) -> bool {
    match (sent, seen) {
        (Value::Object(s), Value::Object(o)) => s
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| contains(ov, v))),
        _ => sent == seen,
    }
}

impl OrangeClient {
    /// Whether `call` (not a create) is already reflected on the linked object.
    pub async fn already_applied(
        &self,
        call: &OrangeCall,
        linked: &str,
    ) -> Result<bool, CallFailure> {
        Ok(match &call.op {
            OrangeOp::UpdateIncident => contains(&self.get_incident(linked).await?, &call.body),
            OrangeOp::AddIncidentNote => {
                // The text identifies a note; other fields (author) come back reshaped.
                let sent = match call.body.get("text") {
                    Some(text) => serde_json::json!({ "text": text }),
                    None => call.body.clone(),
                };
                self.all_items(&["incidents", linked, "notes"])
                    .await?
                    .iter()
                    .any(|n| contains(n, &sent))
            }
            OrangeOp::UploadIncidentAttachment { filename, .. } => self
                .all_items(&["incidents", linked, "attachments"])
                .await?
                .iter()
                .any(|a| a.get("name").and_then(Value::as_str) == Some(filename)),
            OrangeOp::CommentTroubleTicket => {
                let t = self.get_trouble_ticket(linked).await?;
                let text = call.body.pointer("/note/text");
                let notes = match t.get("note") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(n @ Value::Object(_)) => vec![n.clone()],
                    _ => Vec::new(),
                };
                text.is_some() && notes.iter().any(|n| n.get("text") == text)
            }
            OrangeOp::CreateIncident | OrangeOp::CreateTroubleTicket | OrangeOp::SubmitOrder => {
                false
            }
        })
    }

    /// Every item of an Incident sub-collection, page by page.
    async fn all_items(&self, segments: &[&str]) -> Result<Vec<Value>, CallFailure> {
        let mut items = Vec::new();
        let mut offset = 0u32;
        loop {
            let mut url = self.url(OrangeApi::Incident, segments)?;
            url.query_pairs_mut()
                .append_pair("offset", &offset.to_string())
                .append_pair("limit", &PAGE.to_string());
            let answer = self
                .call(OrangeApi::Incident, Method::GET, url, Payload::None)
                .await?;
            let page = wire::page(&answer)?;
            let n = page.items.len() as u32;
            items.extend(page.items);
            offset += n;
            let more = page.total.map_or(n == PAGE, |t| u64::from(offset) < t);
            if n == 0 || !more || items.len() >= MAX_ITEMS {
                return Ok(items);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_is_every_sent_field_with_its_value() {
        let seen = json!({"id": "N1", "text": "hello", "author": {"origin": "CUSTOMER"}});
        assert!(contains(&seen, &json!({"text": "hello"})));
        assert!(contains(&seen, &json!({"author": {"origin": "CUSTOMER"}})));
        assert!(!contains(&seen, &json!({"text": "hello", "x": 1})));
        assert!(!contains(&seen, &json!({"text": "bye"})));
    }
}
