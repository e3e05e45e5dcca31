//! Orange collection queries: dotted-path equality filters (`location.address.country=FR`),
//! range filters on the same paths (`lastUpdateDate>=…`, `createdAt<=…`, string order, which
//! is time order for the simulators' fixed-width RFC 3339 stamps), `sort` (comma list, `-`
//! for descending), `offset`/`limit`, and the `X-Total-Count` / `X-Result-Count` headers.
//!
//! Which of these the seeds document differs per collection ([`Documented`]); what a list
//! does with the rest follows the inferred switches (`unknown_filters`, `sort_fields`,
//! `range_filters`, see [`super::inferred`]).

use std::cmp::Ordering;

use axum::Json;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::OrangeError;
use super::inferred::{FilterMode, Inferred, SortMode};

/// Default page size (the sibling Business Talk API documents 40; the Incident one is unknown).
pub const DEFAULT_LIMIT: usize = 40;
/// Largest page the simulators serve.
pub const MAX_LIMIT: usize = 1000;

/// The sort field every seed documents (`sort=-createdAt`, Incident Postman guide).
pub const DOCUMENTED_SORT: &str = "createdAt";

/// What the seed documents say a collection's list accepts.
#[derive(Debug, Clone, Copy)]
pub struct Documented {
    /// Equality filters shown in the docs; every other filter is "unknown".
    pub filters: &'static [&'static str],
}

/// Incidents: the Postman guide's "Filter the Incidents list" example.
pub const INCIDENTS: Documented = Documented {
    filters: &["location.address.country", "priority"],
};
/// Ordering requests: "Filter the orders list" is a title whose body is not public.
pub const REQUESTS: Documented = Documented { filters: &[] };

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Gte,
    Lte,
}

#[derive(Debug, Default)]
pub struct ListQuery {
    pub offset: usize,
    pub limit: usize,
    sort: Vec<(String, bool)>,
    filters: Vec<(String, Op, String)>,
    /// Parameters the caller reserved (not filters), e.g. `groupBy`.
    pub extra: Vec<(String, String)>,
}

impl ListQuery {
    /// Parses a raw query string; `reserved` names are kept in `extra` instead of filters.
    pub fn parse(raw: Option<&str>, reserved: &[&str]) -> Result<Self, OrangeError> {
        let mut q = Self {
            limit: DEFAULT_LIMIT,
            ..Self::default()
        };
        let pairs = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes());
        for (key, value) in pairs {
            match key.as_ref() {
                "offset" => q.offset = number(&key, &value)?,
                "limit" => q.limit = number(&key, &value)?.min(MAX_LIMIT),
                "sort" => {
                    q.sort = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| match s.strip_prefix('-') {
                            Some(f) => (f.to_owned(), true),
                            None => (s.trim_start_matches('+').to_owned(), false),
                        })
                        .collect()
                }
                k if reserved.contains(&k) => q.extra.push((key.into_owned(), value.into_owned())),
                k => {
                    // `a>=v` arrives as key `a>` value `v` once the `=` is taken as separator.
                    let (path, op) = if let Some(p) = k.strip_suffix('>') {
                        (p, Op::Gte)
                    } else if let Some(p) = k.strip_suffix('<') {
                        (p, Op::Lte)
                    } else {
                        (k, Op::Eq)
                    };
                    q.filters.push((path.to_owned(), op, value.into_owned()));
                }
            }
        }
        Ok(q)
    }

    /// Parses like [`Self::parse`], then treats what `doc` does not document the way the
    /// switches in `inf` say: applied, silently dropped, or refused with 400 code 28.
    pub fn parse_inferred(
        raw: Option<&str>,
        reserved: &[&str],
        doc: &Documented,
        inf: &Inferred,
    ) -> Result<Self, OrangeError> {
        let mut q = Self::parse(raw, reserved)?;
        let mut kept = Vec::with_capacity(q.filters.len());
        for (path, op, value) in std::mem::take(&mut q.filters) {
            let (mode, what) = match op {
                Op::Eq if doc.filters.contains(&path.as_str()) => (FilterMode::Apply, ""),
                Op::Eq => (inf.unknown_filters, "Unknown query-string parameter"),
                Op::Gte | Op::Lte => (inf.range_filters, "Unsupported range filter"),
            };
            match mode {
                FilterMode::Apply => kept.push((path, op, value)),
                FilterMode::Ignore => {}
                FilterMode::Reject => {
                    let shown = match op {
                        Op::Eq => path,
                        Op::Gte => format!("{path}>"),
                        Op::Lte => format!("{path}<"),
                    };
                    return Err(OrangeError::with(28, format!("{what} '{shown}'.")));
                }
            }
        }
        q.filters = kept;
        match inf.sort_fields {
            SortMode::Honour => {}
            SortMode::Ignore => q.sort.retain(|(f, _)| f == DOCUMENTED_SORT),
            SortMode::Reject => {
                if let Some((f, _)) = q.sort.iter().find(|(f, _)| f != DOCUMENTED_SORT) {
                    return Err(OrangeError::with(
                        28,
                        format!(
                            "Invalid value for query-string parameter 'sort': cannot sort by '{f}'."
                        ),
                    ));
                }
            }
        }
        Ok(q)
    }

    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn matches(&self, item: &Value) -> bool {
        self.filters.iter().all(|(path, op, want)| {
            let Some(got) = lookup(item, path).and_then(scalar) else {
                return false;
            };
            match op {
                Op::Eq => got == *want,
                Op::Gte => got.as_str() >= want.as_str(),
                Op::Lte => got.as_str() <= want.as_str(),
            }
        })
    }

    /// Filters, sorts and pages `items`; returns the total count and the page.
    pub fn run<'a>(&self, items: impl Iterator<Item = &'a Value>) -> (usize, Vec<Value>) {
        let mut hits: Vec<&Value> = items.filter(|v| self.matches(v)).collect();
        if !self.sort.is_empty() {
            hits.sort_by(|a, b| {
                for (field, desc) in &self.sort {
                    let o = compare(lookup(a, field), lookup(b, field));
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        let total = hits.len();
        let page = hits
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .cloned()
            .collect();
        (total, page)
    }
}

fn number(key: &str, value: &str) -> Result<usize, OrangeError> {
    value
        .parse()
        .map_err(|_| OrangeError::with(28, format!("'{key}' must be a non-negative integer.")))
}

/// The value at a dotted path (`location.address.country`).
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// A scalar as the string a query parameter would carry.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(x), Some(y)) => scalar(x).cmp(&scalar(y)),
        // Missing values sort last.
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// A bare JSON array with the two Orange count headers.
pub fn list_response(total: usize, page: Vec<Value>) -> Response {
    let count = page.len();
    let mut resp = Json(Value::Array(page)).into_response();
    let h = resp.headers_mut();
    h.insert(TOTAL_COUNT, HeaderValue::from(total));
    h.insert(RESULT_COUNT, HeaderValue::from(count));
    resp
}

pub const TOTAL_COUNT: &str = "x-total-count";
pub const RESULT_COUNT: &str = "x-result-count";
