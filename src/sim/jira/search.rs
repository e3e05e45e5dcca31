//! `GET /rest/api/{2,3}/search?jql=…&startAt=…&maxResults=…&expand=changelog` (the Data
//! Center search) and, when the simulator plays a Cloud site (switch `jira_site=cloud`),
//! Cloud's `GET/POST /rest/api/{2,3}/search/jql` (`jql`, `maxResults` up to 100, `fields`,
//! `expand`, `nextPageToken`; the answer has `issues`, `nextPageToken` and `isLast`, and
//! without `fields` each issue is only its `id`). A Cloud site answers `/search` with 410
//! Gone, as Atlassian's does since its removal; a Data Center site has no `/search/jql` (404).
//! A page token holds the offset and a fingerprint of the query: a token used with another
//! query is refused (400), as Cloud refuses a token of another search.
//!
//! JQL subset: `updated >= "<date>"` (also `>`, `<=`, `<`), terms joined by `AND`, and
//! `ORDER BY updated [ASC|DESC]` (default: by key). A date is absolute — `yyyy/MM/dd HH:mm`,
//! `yyyy-MM-dd HH:mm`, `yyyy/MM/dd`, `yyyy-MM-dd`, in the searching user's time zone, which
//! is UTC here — or relative to now: `-15m`, `-2h`, `-1d`, `-1w`. Anything else is the 400
//! Jira gives for a JQL error. `maxResults` is capped at 1000 like Data Center's default.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use super::{St, no_issue, version};
use crate::sim::error::jira_error;
use crate::sim::inferred::JiraSite;
use crate::sim::state::SimState;

const MAX_RESULTS: usize = 1000;
/// Cloud's cap on `maxResults` of `/search/jql` when fields are asked for.
const MAX_RESULTS_CLOUD: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
}

/// A parsed query: bounds on `updated` (unix ms) and the order.
#[derive(Debug, Default)]
struct Query {
    bounds: Vec<(Op, i128)>,
    by_updated: Option<bool>,
}

fn jql_error(why: &str) -> Response {
    jira_error(
        StatusCode::BAD_REQUEST,
        &[&format!("Error in the JQL Query: {why}")],
        json!({}),
    )
}

/// A JQL date as unix milliseconds.
fn date_ms(v: &str, now: OffsetDateTime) -> Option<i128> {
    if let Some(rel) = v.strip_prefix('-') {
        let (n, unit) = rel.split_at(rel.len().checked_sub(1)?);
        let n: i64 = n.parse().ok()?;
        let d = match unit {
            "m" => Duration::minutes(n),
            "h" => Duration::hours(n),
            "d" => Duration::days(n),
            "w" => Duration::weeks(n),
            _ => return None,
        };
        return Some((now - d).unix_timestamp_nanos() / 1_000_000);
    }
    let v = v.replace('/', "-");
    let full = format_description!("[year]-[month]-[day] [hour]:[minute]");
    let day = format_description!("[year]-[month]-[day]");
    let t = PrimitiveDateTime::parse(&v, &full).ok().or_else(|| {
        time::Date::parse(&v, &day)
            .ok()
            .map(|d| d.with_time(time::Time::MIDNIGHT))
    })?;
    Some(t.assume_utc().unix_timestamp_nanos() / 1_000_000)
}

fn parse_jql(jql: &str, now: OffsetDateTime) -> Result<Query, String> {
    let (cond, order) = match jql.to_ascii_lowercase().find("order by") {
        Some(i) => (&jql[..i], Some(jql[i + 8..].trim())),
        None => (jql, None),
    };
    let mut q = Query::default();
    for term in cond.split(" AND ").map(str::trim).filter(|t| !t.is_empty()) {
        let (field, rest) = term
            .split_once(['>', '<'])
            .ok_or_else(|| format!("the term '{term}' is not supported here"))?;
        if !field.trim().eq_ignore_ascii_case("updated") {
            return Err(format!(
                "the field '{}' is not supported here",
                field.trim()
            ));
        }
        let op_len = if rest.starts_with('=') { 1 } else { 0 };
        let op = match (&term[field.len()..=field.len()], op_len) {
            (">", 1) => Op::Ge,
            (">", _) => Op::Gt,
            ("<", 1) => Op::Le,
            _ => Op::Lt,
        };
        let value = rest[op_len..].trim().trim_matches('"');
        let ms = date_ms(value, now)
            .ok_or_else(|| format!("Date value '{value}' for field 'updated' is invalid."))?;
        q.bounds.push((op, ms));
    }
    if let Some(o) = order {
        let mut parts = o.split_whitespace();
        if !parts
            .next()
            .is_some_and(|f| f.eq_ignore_ascii_case("updated"))
        {
            return Err(format!("ordering by '{o}' is not supported here"));
        }
        q.by_updated = Some(!parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc")));
    }
    Ok(q)
}

/// A stored `2025-05-14T09:20:30.087+0000` as unix milliseconds.
fn stamp_ms(s: &str) -> i128 {
    let f = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(s, &f).map_or(0, |t| t.unix_timestamp_nanos() / 1_000_000)
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The matching issues in the query's order, as search shows them (`changelog` expanded on
/// request), or what is wrong with the JQL.
fn matching(st: &SimState, jql: &str, v3: bool, changelog: bool) -> Result<Vec<Value>, String> {
    let query = parse_jql(jql, OffsetDateTime::now_utc())?;
    let d = st.data();
    let mut hits: Vec<_> = d
        .jira_issues
        .iter()
        .filter(|i| {
            let u = stamp_ms(&i.updated);
            query.bounds.iter().all(|&(op, b)| match op {
                Op::Ge => u >= b,
                Op::Gt => u > b,
                Op::Le => u <= b,
                Op::Lt => u < b,
            })
        })
        .collect();
    match query.by_updated {
        Some(asc) => hits.sort_by(|a, b| {
            let o = stamp_ms(&a.updated).cmp(&stamp_ms(&b.updated));
            if asc { o } else { o.reverse() }
        }),
        None => hits.sort_by(|a, b| a.key.cmp(&b.key)),
    }
    Ok(hits
        .into_iter()
        .map(|i| {
            let mut view = i.view(v3);
            if changelog {
                view["changelog"] = i.changelog();
            }
            view
        })
        .collect())
}

fn query_params(q: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// `GET /search`: Data Center's; a Cloud site answers 410 Gone.
pub async fn search(State(st): St, Path(v): Path<String>, RawQuery(q): RawQuery) -> Response {
    let Some(v3) = version(&v) else {
        return no_issue();
    };
    if st.inferred().jira_site == JiraSite::Cloud {
        return jira_error(
            StatusCode::GONE,
            &[
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
            ],
            json!({}),
        );
    }
    let p = query_params(q.as_deref());
    let changelog = param(&p, "expand").is_some_and(|e| e.contains("changelog"));
    let hits = match matching(&st, param(&p, "jql").unwrap_or(""), v3, changelog) {
        Ok(h) => h,
        Err(why) => return jql_error(&why),
    };
    let start: usize = param(&p, "startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = param(&p, "maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50)
        .min(MAX_RESULTS);
    let total = hits.len();
    let issues: Vec<Value> = hits.into_iter().skip(start).take(max).collect();
    Json(json!({"expand": "names,schema", "startAt": start, "maxResults": max, "total": total, "issues": issues}))
        .into_response()
}

/// What a `/search/jql` call asked for, from its query string (GET) or body (POST).
struct JqlSearch {
    jql: String,
    max: usize,
    /// `None`: ids only (Cloud's default).
    fields: Option<Vec<String>>,
    changelog: bool,
    token: Option<String>,
}

impl JqlSearch {
    fn from_query(p: &[(String, String)]) -> Self {
        let fields: Vec<String> = p
            .iter()
            .filter(|(k, _)| k == "fields")
            .flat_map(|(_, v)| v.split(',').map(|f| f.trim().to_owned()))
            .collect();
        Self {
            jql: param(p, "jql").unwrap_or("").to_owned(),
            max: param(p, "maxResults")
                .and_then(|s| s.parse().ok())
                .unwrap_or(50),
            fields: (!fields.is_empty()).then_some(fields),
            changelog: param(p, "expand").is_some_and(|e| e.contains("changelog")),
            token: param(p, "nextPageToken").map(str::to_owned),
        }
    }

    fn from_body(b: &Value) -> Self {
        let fields = b.get("fields").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
        Self {
            jql: b
                .get("jql")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            max: b
                .get("maxResults")
                .and_then(Value::as_u64)
                .map_or(50, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            fields,
            changelog: b
                .get("expand")
                .and_then(Value::as_str)
                .is_some_and(|e| e.contains("changelog")),
            token: b
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// A page token: the offset and a fingerprint of the query it continues.
fn token(offset: usize, jql: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    jql.hash(&mut h);
    format!("{offset}.{:016x}", h.finish())
}

fn token_offset(t: &str, jql: &str) -> Option<usize> {
    let (offset, _) = t.split_once('.')?;
    let offset: usize = offset.parse().ok()?;
    (token(offset, jql) == t).then_some(offset)
}

/// `GET /search/jql`: Cloud's search.
pub async fn search_jql(State(st): St, Path(v): Path<String>, RawQuery(q): RawQuery) -> Response {
    let p = query_params(q.as_deref());
    run_jql(&st, &v, JqlSearch::from_query(&p))
}

/// `POST /search/jql`: the same, asked in a JSON body.
pub async fn search_jql_post(State(st): St, Path(v): Path<String>, raw: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&raw) {
        Ok(b) if b.is_object() => run_jql(&st, &v, JqlSearch::from_body(&b)),
        _ => jira_error(
            StatusCode::BAD_REQUEST,
            &["Unexpected character in the request body."],
            json!({}),
        ),
    }
}

fn run_jql(st: &SimState, v: &str, s: JqlSearch) -> Response {
    let Some(v3) = version(v) else {
        return no_issue();
    };
    if st.inferred().jira_site != JiraSite::Cloud {
        return jira_error(
            StatusCode::NOT_FOUND,
            &["null for uri: /search/jql"],
            json!({}),
        );
    }
    if s.jql.trim().is_empty() {
        return jql_error(
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        );
    }
    let start = match s.token.as_deref().map(|t| token_offset(t, &s.jql)) {
        None => 0,
        Some(Some(o)) => o,
        Some(None) => {
            return jira_error(
                StatusCode::BAD_REQUEST,
                &["The provided next page token is invalid or expired."],
                json!({}),
            );
        }
    };
    let hits = match matching(st, &s.jql, v3, s.changelog) {
        Ok(h) => h,
        Err(why) => return jql_error(&why),
    };
    let max = s.max.clamp(1, MAX_RESULTS_CLOUD);
    let total = hits.len();
    let issues: Vec<Value> = hits
        .into_iter()
        .skip(start)
        .take(max)
        .map(|i| shape(i, s.fields.as_deref()))
        .collect();
    let end = start + issues.len();
    let mut body = json!({"issues": issues, "isLast": end >= total});
    if end < total {
        body["nextPageToken"] = json!(token(end, &s.jql));
    }
    Json(body).into_response()
}

/// An issue restricted to the asked fields (`*all` / `*navigable`: every field; none: its id).
fn shape(mut issue: Value, fields: Option<&[String]>) -> Value {
    let Some(fields) = fields else {
        return json!({"id": issue["id"]});
    };
    if fields.iter().any(|f| f == "*all" || f == "*navigable") {
        return issue;
    }
    if let Some(Value::Object(all)) = issue.get_mut("fields") {
        all.retain(|k, _| fields.iter().any(|f| f == k));
    }
    issue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_subset_parses_absolute_and_relative_dates_and_the_order() {
        let now = OffsetDateTime::parse(
            "2026-01-02T10:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let q = parse_jql(r#"updated >= "2026/01/02 09:30" ORDER BY updated ASC"#, now).unwrap();
        assert_eq!(
            q.bounds,
            vec![(Op::Ge, (now.unix_timestamp() as i128 - 1800) * 1000)]
        );
        assert_eq!(q.by_updated, Some(true));
        let q = parse_jql(r#"updated > "-30m" AND updated < "2026-01-03""#, now).unwrap();
        assert_eq!(
            q.bounds[0],
            (Op::Gt, (now.unix_timestamp() as i128 - 1800) * 1000)
        );
        assert_eq!(q.bounds[1].0, Op::Lt);
        assert!(parse_jql(r#"project = OPS"#, now).is_err());
        assert!(parse_jql(r#"updated >= "yesterday""#, now).is_err());
    }
}
