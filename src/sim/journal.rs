//! The journal: every call the simulators received (method, path, query, headers minus
//! secrets, body, arrival time, response status, injected fault), numbered in the order the
//! calls ended (answered, or the client hung up), so tests can prove per-ticket order, count
//! creates, and count arrivals per second as a rate limit does. Bounded: the oldest entries
//! are dropped past `SimOptions::journal_capacity`.

use std::collections::VecDeque;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Headers never written to the journal.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "cookie",
    "proxy-authorization",
    "x-sn-apikey",
];
/// Bodies are cut at this many bytes in the journal.
const MAX_JOURNALED_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// When the call arrived (RFC 3339).
    pub time: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Map<String, Value>,
    pub body: String,
    /// Response status; 0 when the connection was dropped without a response.
    pub status: u16,
    /// `"<kind>:<phase>"` when a fault was injected (e.g. `drop:after`).
    pub fault: Option<String>,
}

#[derive(Debug)]
pub struct Journal {
    entries: VecDeque<Entry>,
    capacity: usize,
    next_seq: u64,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
            next_seq: 1,
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn push(&mut self, mut entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        entry.seq = self.next_seq;
        self.next_seq += 1;
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Entries after `since`, optionally restricted to a method and a path prefix.
    pub fn query(&self, since: u64, method: Option<&str>, path_prefix: Option<&str>) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.seq > since)
            .filter(|e| method.is_none_or(|m| e.method.eq_ignore_ascii_case(m)))
            .filter(|e| path_prefix.is_none_or(|p| e.path.starts_with(p)))
            .cloned()
            .collect()
    }
}

/// The headers of a request as the journal keeps them: secrets removed, values as strings.
pub fn safe_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if SECRET_HEADERS.contains(&name) {
            continue;
        }
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.insert(name.to_owned(), Value::String(v));
    }
    out
}

pub fn body_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_JOURNALED_BODY)];
    String::from_utf8_lossy(cut).into_owned()
}
