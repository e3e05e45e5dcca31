//! The simulators' in-memory state: one `std::sync::Mutex` around the business data (every
//! operation is a short critical section, no `.await` inside), separate locks for tokens,
//! journal and faults so the hot read path (token check + GET) contends little.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, RwLock};

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::fault_settings::FaultSettings;
use super::inferred::{ApiKeyFailure, Inferred};
use super::issue::Issue;
use super::journal::Journal;
use super::options::SimOptions;

/// One Orange incident with its sub-resources.
#[derive(Debug, Clone)]
pub struct Incident {
    pub body: Value,
    pub notes: Vec<Value>,
    pub attachments: Vec<Attachment>,
    pub freeze_periods: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub meta: Value,
    pub bytes: bytes::Bytes,
}

/// A keyed collection that keeps insertion order (default list order) and O(1) lookups.
#[derive(Debug, Clone)]
pub struct Table<T> {
    items: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T> Table<T> {
    pub fn insert(&mut self, key: String, item: T) {
        if let Some(&i) = self.index.get(&key) {
            self.items[i] = item;
        } else {
            self.index.insert(key, self.items.len());
            self.items.push(item);
        }
    }
    pub fn get(&self, key: &str) -> Option<&T> {
        self.index.get(key).map(|&i| &self.items[i])
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        self.index.get(key).map(|&i| &mut self.items[i])
    }
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Every business object of every simulated system.
#[derive(Debug, Default)]
pub struct Data {
    pub incidents: Table<Incident>,
    pub tickets: Table<Value>,
    pub requests: Table<Value>,
    pub accounts: Vec<Value>,
    pub locations: Vec<Value>,
    pub service_points: Vec<Value>,
    pub configuration_items: Vec<Value>,
    pub catalog_items: Vec<Value>,
    pub service_numbers: Vec<Value>,
    pub sn_incidents: Table<Value>,
    pub sn_journal: Vec<Value>,
    /// ServiceNow attachments by sys_id: (file name, content type, bytes).
    pub sn_attachments: Table<(String, String, Vec<u8>)>,
    pub jira_issues: Table<Issue>,
    pub seq: u64,
    last_stamp: i128,
}

impl Data {
    /// A process-unique increasing number for ids.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// An RFC 3339 UTC timestamp with milliseconds that is strictly greater than every one
    /// handed out before, so `lastUpdateDate` orders changes without ties.
    pub fn stamp(&mut self) -> String {
        let now = OffsetDateTime::now_utc();
        let mut ms = now.unix_timestamp_nanos() / 1_000_000;
        if ms <= self.last_stamp {
            ms = self.last_stamp + 1;
        }
        self.last_stamp = ms;
        format_ms(ms)
    }
}

pub fn format_ms(ms: i128) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&f).unwrap_or_default()
}

/// ServiceNow's `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn servicenow_now() -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    OffsetDateTime::now_utc().format(&f).unwrap_or_default()
}

/// (client id, window kind) of a rate-limit window.
pub type WindowKey = (String, &'static str);

/// An issued Orange access token.
#[derive(Debug, Clone)]
pub struct Token {
    pub client_id: String,
    pub expires_at: OffsetDateTime,
}

/// Shared state of one simulator instance.
#[derive(Debug)]
pub struct SimState {
    pub opts: SimOptions,
    pub data: Mutex<Data>,
    pub tokens: RwLock<HashMap<String, Token>>,
    pub journal: Mutex<Journal>,
    pub faults: Mutex<FaultSettings>,
    /// The inferred-behaviour switches in force.
    pub inferred: Mutex<Inferred>,
    /// Per-client windows: token requests per minute and API requests per second.
    pub windows: Mutex<HashMap<WindowKey, (i64, u32)>>,
    pub sn_webhook: Mutex<Option<String>>,
    pub http: reqwest::Client,
    /// Makes the data the simulators start from (and `reset` returns to): `seed::seeded`.
    seed: fn() -> Data,
}

impl SimState {
    /// A simulator state whose data starts as `seed` makes it.
    pub fn new(opts: SimOptions, seed: fn() -> Data) -> Self {
        let faults = FaultSettings::from_options(&opts);
        let journal = Journal::new(opts.journal_capacity);
        Self {
            inferred: Mutex::new(Self::start_inferred(&opts)),
            opts,
            data: Mutex::new(seed()),
            tokens: RwLock::new(HashMap::new()),
            journal: Mutex::new(journal),
            faults: Mutex::new(faults),
            windows: Mutex::new(HashMap::new()),
            sn_webhook: Mutex::new(None),
            http: reqwest::Client::new(),
            seed,
        }
    }

    fn start_inferred(opts: &SimOptions) -> Inferred {
        let mut i = opts.inferred;
        if opts.api_key_forbidden {
            i.api_key_failure = ApiKeyFailure::Forbidden;
        }
        i
    }

    /// The inferred-behaviour switches in force (a copy: read once per request).
    pub fn inferred(&self) -> Inferred {
        *lock(&self.inferred)
    }

    /// The business data. A poisoned lock is recovered: every critical section leaves the
    /// data consistent before anything that could panic.
    pub fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.data)
    }

    /// Counts one event in the fixed window `kind` of `client`; `false` when over `limit`.
    /// Returns the seconds until the window ends when refused.
    pub fn take(
        &self,
        client: &str,
        kind: &'static str,
        window_secs: i64,
        limit: u32,
    ) -> Result<(), i64> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let window = now / window_secs;
        let mut w = lock(&self.windows);
        let entry = w.entry((client.to_owned(), kind)).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            return Err((window + 1) * window_secs - now);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Back to the seeded state: data, tokens, journal, windows, faults and inferred switches.
    pub fn reset(&self) {
        *self.data() = (self.seed)();
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        lock(&self.journal).clear();
        lock(&self.windows).clear();
        *lock(&self.faults) = FaultSettings::from_options(&self.opts);
        *lock(&self.inferred) = Self::start_inferred(&self.opts);
        *lock(&self.sn_webhook) = None;
    }
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Now as RFC 3339 UTC with milliseconds (not forced monotonic; see `Data::stamp`).
pub fn now_stamp() -> String {
    format_ms(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
}
