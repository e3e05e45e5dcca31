//! Core Information lookups written into a call's body at delivery time, cached for
//! `orange.lookup_cache_secs` (a customer's inventory changes rarely; the same CI name comes
//! back on every event of a busy ticket).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::domain::Lookup;

/// The Core Information collections a mapping may look into.
pub const COLLECTIONS: [&str; 4] = [
    "servicePoints",
    "configurationItems",
    "locations",
    "accounts",
];

/// Lookup results by (collection, filters, field); `None` means "nothing matched".
pub struct LookupCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Option<Value>)>>,
}

impl LookupCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn key(l: &Lookup) -> String {
        let mut k = format!("{}?", l.collection);
        for (n, v) in &l.filters {
            k.push_str(&format!("{n}={v}&"));
        }
        k.push('#');
        k.push_str(&l.field);
        k
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
