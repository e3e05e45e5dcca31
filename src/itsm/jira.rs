//! Jira REST write-back: comments (v2 wiki string, v3 ADF, or a JSM internal note),
//! transitions chosen by looking up the ones available, and field edits.
//!
//! Transition ids differ per workflow, so a call names the transition (or its target status)
//! and the client resolves it with `GET …/transitions` right before `POST`ing it. When nothing
//! matches but the issue already has the target status, the call is a no-op success: that is
//! the state of things after a retry whose first attempt did go through.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Map, Value, json};

use super::budget::ItsmBudget;
use super::wire::{self, CALL_TIMEOUT, Pace};
use crate::config::JiraTarget;
use crate::domain::adf;
use crate::domain::echo::jira_comment_fingerprint;
use crate::domain::{CallFailure, FailureClass};
use crate::worker::Written;

const JSON: &str = "application/json";
/// Requests one transition makes: the list of transitions, then the move.
pub const TRANSITION_REQUESTS: u32 = 2;

/// One tenant's Jira site.
pub struct JiraClient {
    http: reqwest::Client,
    target: JiraTarget,
    budget: ItsmBudget,
}

impl JiraClient {
    pub fn new(http: reqwest::Client, target: JiraTarget) -> Self {
        let budget = ItsmBudget::new(target.rate_limit);
        Self {
            http,
            target,
            budget,
        }
    }

    /// The tenant's Jira budget (write-backs book from it before they run).
    pub fn budget(&self) -> &ItsmBudget {
        &self.budget
    }

    fn api(&self, tail: &[&str]) -> Result<url::Url, CallFailure> {
        let version = if self.target.api_version == 3 {
            "3"
        } else {
            "2"
        };
        let mut segs = vec!["rest", "api", version];
        segs.extend_from_slice(tail);
        url_with(&self.target.base_url, &segs)
    }

    /// Adds a comment; `public: false` makes a JSM internal note. Waits for the budget.
    pub async fn comment(
        &self,
        issue: &str,
        body: &str,
        public: bool,
    ) -> Result<Written, CallFailure> {
        self.comment_paced(Pace::Wait(&self.budget), issue, body, public)
            .await
    }

    /// [`Self::comment`], with its room in the budget got as `pace` says.
    pub(super) async fn comment_paced(
        &self,
        pace: Pace<'_>,
        issue: &str,
        body: &str,
        public: bool,
    ) -> Result<Written, CallFailure> {
        let (url, payload) = if public {
            let body = if self.target.api_version == 3 {
                adf::from_plain_text(body)
            } else {
                Value::String(body.to_owned())
            };
            (
                self.api(&["issue", issue, "comment"])?,
                json!({"body": body}),
            )
        } else {
            let url = url_with(
                &self.target.base_url,
                &["rest", "servicedeskapi", "request", issue, "comment"],
            )?;
            (url, json!({"body": body, "public": false}))
        };
        let (status, resp) = self
            .send(pace, reqwest::Method::POST, url, Some(&payload))
            .await?;
        let id = resp
            .get("id")
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| wire::bad_response(status, "Jira", "comment without id"))?;
        Ok(Written {
            echo_fingerprints: vec![jira_comment_fingerprint(&id)],
        })
    }

    /// Moves the issue through the transition named (or leading to the status named) `wanted`.
    /// Waits for the budget.
    pub async fn transition(
        &self,
        issue: &str,
        wanted: &str,
        fields: Option<&Value>,
    ) -> Result<Written, CallFailure> {
        self.transition_paced(Pace::Wait(&self.budget), issue, wanted, fields)
            .await
    }

    /// [`Self::transition`], with its room in the budget got as `pace` says. It makes
    /// [`TRANSITION_REQUESTS`] requests: the list of transitions, then the move (or a read of
    /// the issue's status when none matches).
    pub(super) async fn transition_paced(
        &self,
        pace: Pace<'_>,
        issue: &str,
        wanted: &str,
        fields: Option<&Value>,
    ) -> Result<Written, CallFailure> {
        let url = self.api(&["issue", issue, "transitions"])?;
        let (_, list) = self
            .send(pace, reqwest::Method::GET, url.clone(), None)
            .await?;
        let Some(id) = pick_transition(&list, wanted) else {
            return self.already_in(pace, issue, wanted).await;
        };
        let mut payload = json!({"transition": {"id": id}});
        if let Some(f) = fields {
            payload["fields"] = screen_fields(f);
        }
        self.send(pace, reqwest::Method::POST, url, Some(&payload))
            .await?;
        Ok(Written::default())
    }

    async fn already_in(
        &self,
        pace: Pace<'_>,
        issue: &str,
        wanted: &str,
    ) -> Result<Written, CallFailure> {
        let mut url = self.api(&["issue", issue])?;
        url.set_query(Some("fields=status"));
        let (status, v) = self.send(pace, reqwest::Method::GET, url, None).await?;
        let current = v.pointer("/fields/status/name").and_then(Value::as_str);
        if current.is_some_and(|c| c.eq_ignore_ascii_case(wanted.trim())) {
            return Ok(Written::default());
        }
        Err(CallFailure {
            class: FailureClass::Permanent,
            http_status: Some(status),
            code: Some("no_transition".into()),
            message: format!(
                "no available transition matches {wanted:?} (issue status {:?})",
                current.unwrap_or("unknown")
            ),
        })
    }

    /// `PUT /issue/{issue}` with `fields`. Waits for the budget.
    pub async fn edit(
        &self,
        issue: &str,
        fields: &Map<String, Value>,
    ) -> Result<Written, CallFailure> {
        self.edit_paced(Pace::Wait(&self.budget), issue, fields)
            .await
    }

    /// [`Self::edit`], with its room in the budget got as `pace` says.
    pub(super) async fn edit_paced(
        &self,
        pace: Pace<'_>,
        issue: &str,
        fields: &Map<String, Value>,
    ) -> Result<Written, CallFailure> {
        let url = self.api(&["issue", issue])?;
        self.send(
            pace,
            reqwest::Method::PUT,
            url,
            Some(&json!({"fields": fields})),
        )
        .await?;
        Ok(Written::default())
    }

    /// Whether the site is Jira Cloud (`tenants[].itsm.jira.deployment`).
    pub fn is_cloud(&self) -> bool {
        self.target.is_cloud()
    }

    /// One page of Cloud's `GET /search/jql` (`?jql&maxResults&nextPageToken&fields=*all
    /// &expand=changelog`): the issues, each with its comments and changelog histories, and
    /// the token of the next page (`None` on the last: `isLast`, or no token).
    pub async fn search_jql(
        &self,
        jql: &str,
        page_token: Option<&str>,
        max_results: u32,
    ) -> Result<(Vec<Value>, Option<String>), CallFailure> {
        let mut url = self.api(&["search", "jql"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("jql", jql)
                .append_pair("maxResults", &max_results.to_string())
                .append_pair("fields", "*all")
                .append_pair("expand", "changelog");
            if let Some(t) = page_token {
                q.append_pair("nextPageToken", t);
            }
        }
        let (status, v) = self
            .send(Pace::Wait(&self.budget), reqwest::Method::GET, url, None)
            .await?;
        let Some(Value::Array(issues)) = v.get("issues") else {
            return Err(wire::bad_response(
                status,
                "Jira",
                "search/jql without issues",
            ));
        };
        let last = v.get("isLast").and_then(Value::as_bool).unwrap_or(false);
        let next = v
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !last && !t.is_empty())
            .map(str::to_owned);
        Ok((issues.clone(), next))
    }

    /// One page of `GET /search` (`?jql&startAt&maxResults&expand=changelog&fields=*all`):
    /// the issues, each with its comments and changelog histories. Data Center's search
    /// (Cloud answers it 410 Gone and has [`Self::search_jql`]).
    pub async fn search(
        &self,
        jql: &str,
        start_at: u32,
        max_results: u32,
    ) -> Result<Vec<Value>, CallFailure> {
        let mut url = self.api(&["search"])?;
        url.query_pairs_mut()
            .append_pair("jql", jql)
            .append_pair("startAt", &start_at.to_string())
            .append_pair("maxResults", &max_results.to_string())
            .append_pair("fields", "*all")
            .append_pair("expand", "changelog");
        let (status, v) = self
            .send(Pace::Wait(&self.budget), reqwest::Method::GET, url, None)
            .await?;
        match v.get("issues") {
            Some(Value::Array(a)) => Ok(a.clone()),
            _ => Err(wire::bad_response(status, "Jira", "search without issues")),
        }
    }

    /// A read-only `GET /rest/api/{v}/{path…}?{query}` (doctor's checks: `status`,
    /// `mypermissions`, an issue's `transitions`).
    pub async fn read(&self, path: &[&str], query: &[(&str, &str)]) -> Result<Value, CallFailure> {
        let mut url = self.api(path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(self
            .send(Pace::Wait(&self.budget), reqwest::Method::GET, url, None)
            .await?
            .1)
    }

    /// `GET /myself`: who the configured credentials are (doctor's read-only check).
    pub async fn myself(&self) -> Result<Value, CallFailure> {
        let url = self.api(&["myself"])?;
        Ok(self
            .send(Pace::Wait(&self.budget), reqwest::Method::GET, url, None)
            .await?
            .1)
    }

    /// One rate-limited call; the parsed body (`null` for 204) or the classified failure.
    async fn send(
        &self,
        pace: Pace<'_>,
        method: reqwest::Method,
        url: url::Url,
        body: Option<&Value>,
    ) -> Result<(u16, Value), CallFailure> {
        let mut req = self
            .http
            .request(method, url)
            .header(ACCEPT, JSON)
            .timeout(CALL_TIMEOUT);
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, JSON).json(b);
        }
        let (status, bytes) = wire::send(pace, &self.target.auth, req, parse_error, "Jira").await?;
        if bytes.is_empty() {
            return Ok((status, Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(|v| (status, v))
            .map_err(|e| wire::bad_response(status, "Jira", &e.to_string()))
    }
}

fn url_with(base: &url::Url, segs: &[&str]) -> Result<url::Url, CallFailure> {
    if segs.iter().any(|s| s.is_empty()) {
        return Err(permanent("empty issue key"));
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| permanent("base_url cannot hold a path"))?
        .pop_if_empty()
        .extend(segs);
    Ok(url)
}

fn permanent(why: &str) -> CallFailure {
    CallFailure {
        class: FailureClass::Permanent,
        http_status: None,
        code: None,
        message: format!("Jira call cannot be built: {why}"),
    }
}

/// System fields Jira sets by name: a mapping's plain string (`resolution: Done`) is sent as
/// `{"name": "Done"}`; Jira refuses the bare string ("Could not find valid 'id' or 'name' in
/// resolution object"). Objects and other fields pass unchanged.
const NAMED_FIELDS: [&str; 2] = ["resolution", "priority"];

fn screen_fields(fields: &Value) -> Value {
    let Some(map) = fields.as_object() else {
        return fields.clone();
    };
    let shaped = map
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) if NAMED_FIELDS.contains(&k.as_str()) => {
                (k.clone(), json!({"name": s}))
            }
            _ => (k.clone(), v.clone()),
        })
        .collect();
    Value::Object(shaped)
}

/// The id of the first available transition whose name or target status name equals
/// `wanted`, case-insensitively (name matches win over status matches).
pub fn pick_transition(list: &Value, wanted: &str) -> Option<String> {
    let wanted = wanted.trim();
    let all = list.get("transitions")?.as_array()?;
    let available = || {
        all.iter()
            .filter(|t| t.get("isAvailable").and_then(Value::as_bool) != Some(false))
    };
    let eq = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(wanted))
    };
    let found = available()
        .find(|t| eq(t.get("name")))
        .or_else(|| available().find(|t| eq(t.pointer("/to/name"))))?;
    match found.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `{"errorMessages":[…],"errors":{field: msg}}` (platform API) or `{"errorMessage": …,
/// "i18nErrorMessage": {"i18nKey": …}}` (JSM API) → (first field or i18n key as code, text).
pub fn parse_error(body: &[u8]) -> Option<(Option<String>, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(m) = v.get("errorMessage").and_then(Value::as_str) {
        let key = v
            .pointer("/i18nErrorMessage/i18nKey")
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Some((key, m.to_owned()));
    }
    let mut parts: Vec<String> = v
        .get("errorMessages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut code = None;
    if let Some(errs) = v.get("errors").and_then(Value::as_object) {
        for (field, msg) in errs {
            code.get_or_insert_with(|| field.clone());
            parts.push(format!("{field}: {}", msg.as_str().unwrap_or_default()));
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some((code, parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transitions() -> Value {
        json!({"transitions":[
            {"id":"11","name":"Start Progress","to":{"name":"In Progress"}},
            {"id":"31","name":"Resolve","to":{"name":"Done"}},
            {"id":"41","name":"Close","to":{"name":"Closed"},"isAvailable":false},
            {"id":51,"name":"Done","to":{"name":"Resolved"}}]})
    }

    #[test]
    fn transition_is_found_by_name_then_by_target_status_case_insensitively() {
        let t = transitions();
        assert_eq!(pick_transition(&t, "resolve").as_deref(), Some("31"));
        assert_eq!(pick_transition(&t, "in progress").as_deref(), Some("11"));
        // "Done" is both a transition name (51) and a target status (31): the name wins.
        assert_eq!(pick_transition(&t, "DONE").as_deref(), Some("51"));
        assert_eq!(
            pick_transition(&t, "Closed"),
            None,
            "unavailable ones are skipped"
        );
        assert_eq!(pick_transition(&t, "Reopen"), None);
        assert_eq!(pick_transition(&json!({}), "x"), None);
    }

    #[test]
    fn jira_error_body_lists_messages_and_field_errors() {
        let (code, text) = parse_error(
            br#"{"errorMessages":["Bad"],"errors":{"comment":"Comment body is not valid!"}}"#,
        )
        .unwrap();
        assert_eq!(code.as_deref(), Some("comment"));
        assert_eq!(text, "Bad; comment: Comment body is not valid!");
        assert!(parse_error(br#"{"errorMessages":[],"errors":{}}"#).is_none());
    }

    #[test]
    fn jsm_error_body_gives_its_message_and_i18n_key() {
        let (code, text) = parse_error(
            br#"{"errorMessage":"No such request","i18nErrorMessage":{"i18nKey":"sd.not.found","parameters":[]}}"#,
        )
        .unwrap();
        assert_eq!(
            (code.as_deref(), text.as_str()),
            (Some("sd.not.found"), "No such request")
        );
    }

    #[test]
    fn name_typed_system_fields_are_sent_as_objects() {
        let f = screen_fields(
            &json!({"resolution": "Done", "priority": {"id": "2"}, "customfield_1": "x"}),
        );
        assert_eq!(
            f,
            json!({"resolution": {"name": "Done"}, "priority": {"id": "2"}, "customfield_1": "x"})
        );
    }

    #[test]
    fn api_urls_follow_the_configured_version() {
        let base = url::Url::parse("http://127.0.0.1:1/jira/").unwrap();
        let u = url_with(&base, &["rest", "api", "3", "issue", "PRJ-1", "comment"]).unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/jira/rest/api/3/issue/PRJ-1/comment"
        );
        assert!(url_with(&base, &["rest", "api", "2", "issue", ""]).is_err());
    }
}
