//! Core Information lookups written into a call's body at delivery time, cached for
//! `orange.lookup_cache_secs` (a customer's inventory changes rarely; the same CI name comes
//! back on every event of a busy ticket), and single-flight: after a restart, the 64
//! deliveries that need the same lookup at once send one request and share its answer, its
//! failure included (each delivery then retries on its own schedule). A cache belongs to one
//! tenant's client, so the flights are per (tenant, query).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::domain::{CallFailure, Lookup};

/// What one lookup request answered: the field's value (`None`: nothing matched).
type Answer = Result<Option<Value>, CallFailure>;

/// The Core Information collections a mapping may look into.
pub const COLLECTIONS: [&str; 4] = [
    "servicePoints",
    "configurationItems",
    "locations",
    "accounts",
];

/// The value a lookup resolves to from one page of its collection: the `field` (a dotted
/// path, `servicePoint.id`) of the first item whose own values equal every filter.
///
/// The items are checked, not trusted: whether Core Information applies a filter on a given
/// field is not documented (docs/orange-assumptions.md), and an API that ignored it would
/// answer its whole collection, whose first item is some other site's.
pub fn pick(items: &[Value], lookup: &Lookup) -> Option<Value> {
    items
        .iter()
        .find(|item| {
            lookup
                .filters
                .iter()
                .all(|(path, want)| matches(dotted(item, path), want))
        })
        .and_then(|item| dotted(item, &lookup.field))
        .filter(|v| !v.is_null())
        .cloned()
}

/// The value at a dotted path (`location.address.country`).
fn dotted<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(item, |v, k| v.get(k))
}

/// Whether a value equals a filter's text as Orange would compare it (strings exactly,
/// numbers and booleans by their JSON text).
fn matches(value: Option<&Value>, want: &str) -> bool {
    match value {
        Some(Value::String(s)) => s == want,
        Some(Value::Number(n)) => want.parse::<serde_json::Number>().ok().as_ref() == Some(n),
        Some(Value::Bool(b)) => want == if *b { "true" } else { "false" },
        _ => false,
    }
}

/// Lookup results by (collection, filters, field); `None` means "nothing matched".
pub struct LookupCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Option<Value>)>>,
    /// Requests in flight, by key: the first caller sends, the others wait on its cell.
    flights: Mutex<HashMap<String, Arc<OnceCell<Answer>>>>,
}

impl LookupCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The query's identity. JSON, so that a filter value holding `&` or `=` cannot make
    /// two different queries share a key.
    pub fn key(l: &Lookup) -> String {
        serde_json::json!([l.collection, l.filters, l.field]).to_string()
    }

    /// The cached answer for `key`, or the answer of one `fetch` shared by every caller
    /// that asks while it is in flight. Answers that found something or nothing are cached;
    /// failures are only shared.
    pub async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Answer>,
    {
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let cell = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.entry(key.to_owned()).or_default().clone()
        };
        // A leader that is cancelled (its delivery timed out) leaves the cell empty and the
        // next waiter sends instead.
        let answer = cell
            .get_or_init(|| async {
                // A flight that ended just before this one was created has filled the cache.
                if let Some(hit) = self.get(key) {
                    return Ok(hit);
                }
                let answer = fetch().await;
                if let Ok(v) = &answer {
                    self.put(key.to_owned(), v.clone());
                }
                answer
            })
            .await
            .clone();
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            flights.remove(key);
        }
        answer
    }

    pub fn get(&self, key: &str) -> Option<Option<Value>> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: String, value: Option<Value>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a mapping with a high-cardinality lookup must not grow memory forever.
        if map.len() >= 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        map.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lookup(filters: &[(&str, &str)], field: &str) -> Lookup {
        Lookup {
            target: "/servicePoint/id".into(),
            collection: "configurationItems".into(),
            filters: filters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            field: field.into(),
            default: None,
        }
    }

    #[test]
    fn the_first_item_that_carries_the_filtered_values_is_picked_by_a_dotted_field() {
        let items = [
            json!({"name": "LYON-RTR-01", "servicePoint": {"id": "SP-2"}}),
            json!({"name": "PARIS-RTR-01", "servicePoint": {"id": "SP-1"}}),
        ];
        let l = lookup(&[("name", "PARIS-RTR-01")], "servicePoint.id");
        assert_eq!(pick(&items, &l), Some(json!("SP-1")));
    }

    #[test]
    fn a_page_where_no_item_carries_the_filtered_values_resolves_to_nothing() {
        // What an API that ignored the filter would answer: other sites only.
        let items = [json!({"name": "LYON-RTR-01", "servicePoint": {"id": "SP-2"}})];
        let l = lookup(&[("name", "PARIS-RTR-01")], "servicePoint.id");
        assert_eq!(pick(&items, &l), None);
        let nested = lookup(&[("location.address.country", "FR")], "id");
        let fr = json!({"id": "SP-9", "location": {"address": {"country": "FR"}}});
        assert_eq!(pick(&[fr], &nested), Some(json!("SP-9")));
    }
}
