//! Read-only probes of Orange's inferred list behaviours: whether a reference filter
//! (`externalReference=`, `externalId=`, `customerReference=`) is applied, whether
//! `sort=-<field>` is honoured, whether a range filter `field>=T` is applied. Each answers a
//! [`Verdict`] from GET calls only, so the poller (at start and after a failure), the
//! duplicate guard and `itsm-bridge doctor` can find out how the live API behaves instead of
//! trusting docs/orange-assumptions.md.
//!
//! A probe never concludes from too little: with fewer objects than it needs to tell the
//! cases apart it answers [`Verdict::Undecidable`] with why.

use serde_json::Value;

use crate::domain::{CallFailure, OrangeApi};

use super::browse::PageQuery;
use super::client::OrangeClient;
use super::wire::Page;

/// Orange codes of a refused query string: 20 invalid URL parameter, 27 missing, 28 invalid.
const QUERY_REFUSED_CODES: [&str; 3] = ["20", "27", "28"];
/// Items read per probe page: enough to see an order, small enough to stay cheap.
pub const PROBE_PAGE: u32 = 50;
/// A reference no real object carries (the filter, if applied, matches nothing).
pub const PROBE_REFERENCE: &str = "itsm-bridge-probe-no-such-reference";

/// What a probe observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The filter is applied / the sort is honoured.
    Honoured,
    /// The parameter is accepted and silently has no effect.
    Ignored,
    /// Orange refuses the parameter (400 with a query-string error code); the detail.
    Rejected(String),
    /// Not enough data to tell; why.
    Undecidable(String),
}

impl Verdict {
    /// `honoured`, `ignored`, `rejected`, `undecidable`: the word doctor and the logs show.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Honoured => "honoured",
            Self::Ignored => "ignored",
            Self::Rejected(_) => "rejected",
            Self::Undecidable(_) => "undecidable",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Honoured | Self::Ignored => f.write_str(self.word()),
            Self::Rejected(d) => write!(f, "rejected ({d})"),
            Self::Undecidable(d) => write!(f, "undecidable ({d})"),
        }
    }
}

/// Whether `f` is Orange refusing the query string (as opposed to an outage or bad
/// credentials, which are errors, not verdicts).
pub fn is_query_refusal(f: &CallFailure) -> bool {
    f.http_status == Some(400)
        && f.code
            .as_deref()
            .is_none_or(|c| QUERY_REFUSED_CODES.contains(&c))
}

/// `Ok(Err(verdict))` when the call was refused: the caller answers that verdict.
fn refused<T>(r: Result<T, CallFailure>) -> Result<Result<T, Verdict>, CallFailure> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(f) if is_query_refusal(&f) => Ok(Err(Verdict::Rejected(format!(
            "400 code {}",
            f.code.as_deref().unwrap_or("?")
        )))),
        Err(f) => Err(f),
    }
}

/// The value at a dotted path as a comparable string (Orange stamps are fixed-width
/// RFC 3339, so string order is time order).
pub fn field_str(v: &Value, path: &str) -> Option<String> {
    match path.split('.').try_fold(v, |v, k| v.get(k))? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl OrangeClient {
    /// One page of `api`'s main collection (incidents, ordering requests, or the Wholesale
    /// search, which pages with `page`/`pageSize` and ignores `sort`).
    pub async fn list_page(
        &self,
        api: OrangeApi,
        filters: &[(String, String)],
        sort: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<Page, CallFailure> {
        let q = PageQuery {
            filters,
            sort,
            offset: Some(offset),
            limit: Some(limit),
        };
        match api {
            OrangeApi::Incident => self.list_incidents(&q).await,
            OrangeApi::Ordering => self.list_orders(&q).await,
            OrangeApi::TroubleTicket => {
                let mut f = filters.to_vec();
                f.push(("page".into(), (offset / limit.max(1) + 1).to_string()));
                f.push(("pageSize".into(), limit.to_string()));
                self.search_trouble_tickets(&f).await
            }
            OrangeApi::CoreInformation => Err(super::error::permanent(
                "Core Information has no collection to probe",
            )),
        }
    }

    /// Is `field=<value>` applied on `api`'s list? Asks for a reference no object carries:
    /// an applied filter answers nothing, an ignored one answers the unfiltered list.
    pub async fn probe_reference_filter(
        &self,
        api: OrangeApi,
        field: &str,
    ) -> Result<Verdict, CallFailure> {
        let f = [(field.to_owned(), PROBE_REFERENCE.to_owned())];
        let filtered = match refused(self.list_page(api, &f, None, 0, PROBE_PAGE).await)? {
            Ok(p) => p,
            Err(v) => return Ok(v),
        };
        if filtered
            .items
            .iter()
            .any(|o| field_str(o, field).as_deref() != Some(PROBE_REFERENCE))
        {
            return Ok(Verdict::Ignored);
        }
        if !filtered.items.is_empty() {
            // Every item carries the probe's reference: someone made one; still applied.
            return Ok(Verdict::Honoured);
        }
        let all = self.list_page(api, &[], None, 0, 1).await?;
        if all.items.is_empty() {
            return Ok(Verdict::Undecidable(format!(
                "no {} to list: an ignored filter would also answer nothing",
                api.as_str()
            )));
        }
        Ok(Verdict::Honoured)
    }

    /// Is `sort=-<field>` honoured on `api`'s list? Reads the first page sorted descending
    /// and ascending: only an honoured sort orders both ways.
    pub async fn probe_sort(&self, api: OrangeApi, field: &str) -> Result<Verdict, CallFailure> {
        let desc = match refused(
            self.list_page(api, &[], Some(&format!("-{field}")), 0, PROBE_PAGE)
                .await,
        )? {
            Ok(p) => p,
            Err(v) => return Ok(v),
        };
        let asc = match refused(self.list_page(api, &[], Some(field), 0, PROBE_PAGE).await)? {
            Ok(p) => p,
            Err(v) => return Ok(v),
        };
        let values = |p: &Page| -> Vec<String> {
            p.items.iter().filter_map(|o| field_str(o, field)).collect()
        };
        let (d, a) = (values(&desc), values(&asc));
        let distinct = |v: &[String]| v.windows(2).any(|w| w[0] != w[1]);
        if !distinct(&d) && !distinct(&a) {
            return Ok(Verdict::Undecidable(format!(
                "fewer than two {} carry distinct '{field}' values",
                api.as_str()
            )));
        }
        let descending = d.windows(2).all(|w| w[0] >= w[1]);
        let ascending = a.windows(2).all(|w| w[0] <= w[1]);
        Ok(if descending && ascending {
            Verdict::Honoured
        } else {
            Verdict::Ignored
        })
    }

    /// Is `field>=T` applied on `api`'s list? Takes T as the largest value on the first page
    /// and checks that the filtered answer holds nothing below it.
    pub async fn probe_range_filter(
        &self,
        api: OrangeApi,
        field: &str,
    ) -> Result<Verdict, CallFailure> {
        let page = self.list_page(api, &[], None, 0, PROBE_PAGE).await?;
        let mut values: Vec<String> = page
            .items
            .iter()
            .filter_map(|o| field_str(o, field))
            .collect();
        values.sort();
        values.dedup();
        let (Some(low), Some(high)) = (values.first(), values.last()) else {
            return Ok(Verdict::Undecidable(format!(
                "no {} carries '{field}'",
                api.as_str()
            )));
        };
        if low == high {
            return Ok(Verdict::Undecidable(format!(
                "fewer than two {} carry distinct '{field}' values",
                api.as_str()
            )));
        }
        let f = [(format!("{field}>"), high.clone())];
        let filtered = match refused(self.list_page(api, &f, None, 0, PROBE_PAGE).await)? {
            Ok(p) => p,
            Err(v) => return Ok(v),
        };
        let below = filtered
            .items
            .iter()
            .any(|o| field_str(o, field).is_none_or(|v| v < *high));
        Ok(if below {
            Verdict::Ignored
        } else {
            Verdict::Honoured
        })
    }
}
