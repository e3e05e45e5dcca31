//! ServiceNow Table API write-back: one `PATCH /api/now/table/{table}/{sys_id}` per call; and
//! the list read ITSM-side reconciliation pages with.
//!
//! The call's fields go in one request on purpose: resolving (`state` 6) without `close_code`
//! and `close_notes` in the same call is rejected by the usual data policy. Journal fields
//! (`work_notes`, `comments`) append; their text is fingerprinted so the business-rule webhook
//! the write triggers is recognised as an echo.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Map, Value};

use super::budget::ItsmBudget;
use super::wire::{self, CALL_TIMEOUT, Pace};
use crate::config::ServicenowTarget;
use crate::domain::CallFailure;
use crate::domain::echo::sn_note_fingerprint;
use crate::worker::Written;

const JSON: &str = "application/json";
/// Journal fields whose text comes back in the echo webhook.
const JOURNAL_FIELDS: [&str; 2] = ["work_notes", "comments"];

/// One tenant's ServiceNow instance.
pub struct ServicenowClient {
    http: reqwest::Client,
    target: ServicenowTarget,
    budget: ItsmBudget,
}

impl ServicenowClient {
    pub fn new(http: reqwest::Client, target: ServicenowTarget) -> Self {
        let budget = ItsmBudget::new(target.rate_limit);
        Self {
            http,
            target,
            budget,
        }
    }

    /// The tenant's ServiceNow budget (write-backs book from it before they run).
    pub fn budget(&self) -> &ItsmBudget {
        &self.budget
    }

    /// `PATCH` the record with `fields`, waiting for the budget; the fingerprints of any
    /// journal text written.
    pub async fn patch(
        &self,
        table: &str,
        sys_id: &str,
        fields: &Map<String, Value>,
    ) -> Result<Written, CallFailure> {
        self.patch_paced(Pace::Wait(&self.budget), table, sys_id, fields)
            .await
    }

    /// [`Self::patch`], with its room in the budget got as `pace` says.
    pub(super) async fn patch_paced(
        &self,
        pace: Pace<'_>,
        table: &str,
        sys_id: &str,
        fields: &Map<String, Value>,
    ) -> Result<Written, CallFailure> {
        let url = record_url(&self.target.base_url, table, sys_id)?;
        let req = self
            .http
            .patch(url)
            .header(ACCEPT, JSON)
            .header(CONTENT_TYPE, JSON)
            .timeout(CALL_TIMEOUT)
            .json(fields);
        self.send(pace, req).await?;
        Ok(Written {
            echo_fingerprints: journal_fingerprints(fields),
        })
    }
}

impl ServicenowClient {
    /// Sends one call within the tenant's ServiceNow budget, with its credentials.
    async fn send(
        &self,
        pace: Pace<'_>,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, bytes::Bytes), CallFailure> {
        wire::send(pace, &self.target.auth, req, parse_error, "ServiceNow").await
    }

    /// One page of `GET /api/now/table/{table}?sysparm_query&sysparm_limit&sysparm_offset`,
    /// database values with bare reference sys_ids (the strings a business rule's
    /// `getValue()` sends). Reads share the tenant's rate budget with the write-backs.
    pub async fn list(
        &self,
        table: &str,
        query: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Value>, CallFailure> {
        self.list_fields(table, query, None, limit, offset).await
    }

    /// [`Self::list`] restricted to `fields` (`sysparm_fields`, dot-walks such as
    /// `role.name` allowed) when given.
    pub async fn list_fields(
        &self,
        table: &str,
        query: &str,
        fields: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Value>, CallFailure> {
        let mut url = table_url(&self.target.base_url, table)?;
        if let Some(f) = fields {
            url.query_pairs_mut().append_pair("sysparm_fields", f);
        }
        url.query_pairs_mut()
            .append_pair("sysparm_query", query)
            .append_pair("sysparm_limit", &limit.to_string())
            .append_pair("sysparm_offset", &offset.to_string())
            .append_pair("sysparm_display_value", "false")
            .append_pair("sysparm_exclude_reference_link", "true")
            .append_pair("sysparm_no_count", "true");
        let req = self
            .http
            .get(url)
            .header(ACCEPT, JSON)
            .timeout(CALL_TIMEOUT);
        let (status, body) = self.send(Pace::Wait(&self.budget), req).await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(mut o)) => match o.remove("result") {
                Some(Value::Array(a)) => Ok(a),
                _ => Err(wire::bad_response(
                    status,
                    "ServiceNow",
                    "list without result",
                )),
            },
            Ok(_) => Err(wire::bad_response(
                status,
                "ServiceNow",
                "list without result",
            )),
            Err(e) => Err(wire::bad_response(status, "ServiceNow", &e.to_string())),
        }
    }
}

/// `{base}/api/now/table/{table}`.
pub fn table_url(base: &url::Url, table: &str) -> Result<url::Url, CallFailure> {
    if table.is_empty() {
        return Err(invalid("empty table"));
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| invalid("base_url cannot hold a path"))?
        .pop_if_empty()
        .extend(["api", "now", "table", table]);
    Ok(url)
}

/// `{base}/api/now/table/{table}/{sys_id}`, with each segment escaped.
pub fn record_url(base: &url::Url, table: &str, sys_id: &str) -> Result<url::Url, CallFailure> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| invalid("base_url cannot hold a path"))?
        .pop_if_empty()
        .extend(["api", "now", "table", table, sys_id]);
    if table.is_empty() || sys_id.is_empty() {
        return Err(invalid("empty table or sys_id"));
    }
    Ok(url)
}

fn invalid(why: &str) -> CallFailure {
    CallFailure {
        class: crate::domain::FailureClass::Permanent,
        http_status: None,
        code: None,
        message: format!("ServiceNow call cannot be built: {why}"),
    }
}

/// `{"error":{"message","detail"},"status":"failure"}` → (message as code, detail).
pub fn parse_error(body: &[u8]) -> Option<(Option<String>, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error")?;
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let detail = err
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let text = match (&message, detail) {
        (Some(m), "") => m.clone(),
        (Some(m), d) => format!("{m}: {d}"),
        (None, d) => d.to_owned(),
    };
    Some((message, text))
}

/// Fingerprints of the journal text a PATCH writes.
pub fn journal_fingerprints(fields: &Map<String, Value>) -> Vec<String> {
    JOURNAL_FIELDS
        .iter()
        .filter_map(|f| fields.get(*f).and_then(Value::as_str))
        .filter(|t| !t.trim().is_empty())
        .map(sn_note_fingerprint)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn record_url_escapes_segments_and_keeps_base_path() {
        let base = url::Url::parse("https://acme.service-now.com/").unwrap();
        let u = record_url(&base, "incident", "abc/def").unwrap();
        assert_eq!(
            u.as_str(),
            "https://acme.service-now.com/api/now/table/incident/abc%2Fdef"
        );
        let base = url::Url::parse("http://127.0.0.1:9000/sn").unwrap();
        let u = record_url(&base, "incident", "0123").unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9000/sn/api/now/table/incident/0123"
        );
    }

    #[test]
    fn servicenow_error_body_is_read_into_code_and_message() {
        let body = br#"{"error":{"message":"Data Policy Exception","detail":"close_code is mandatory"},"status":"failure"}"#;
        let (code, text) = parse_error(body).unwrap();
        assert_eq!(code.as_deref(), Some("Data Policy Exception"));
        assert_eq!(text, "Data Policy Exception: close_code is mandatory");
        assert!(parse_error(b"<html>").is_none());
    }

    #[test]
    fn journal_text_written_is_fingerprinted_like_the_echo_check_does() {
        let fields = json!({"state":"2","work_notes":"[Orange] hello","comments":""});
        let fps = journal_fingerprints(fields.as_object().unwrap());
        assert_eq!(fps, vec![sn_note_fingerprint("[Orange] hello")]);
    }
}
