//! The retention purger: every `retention.interval_secs`, one pass that deletes events,
//! deliveries and attempts past `retention.done` / `.skipped` / `.dead`, in short steps
//! (`Store::purge_step`, one small transaction each) with a pause between them, so webhooks
//! and outcomes are written between two steps and never wait for a whole pass.
//!
//! Links and the poller's remote states are never purged: a ticket's link is what keeps its
//! next update from creating a second object at Orange. On PostgreSQL one replica purges at a
//! time (a named lease); the others skip the pass.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::RetentionConfig;
use crate::domain::{EventId, Timestamp};
use crate::store::{PurgeCounts, PurgeCursor, PurgeRules, Store, StoreError};

/// The named lease one replica holds while it purges.
pub const LEASE: &str = "retention";
/// Pause between two steps of a pass: the write connection is free for the hot writes.
const PAUSE: Duration = Duration::from_millis(5);

pub struct Purger {
    store: Arc<dyn Store>,
    config: RetentionConfig,
    owner: String,
    /// Where the last pass left the events that planned no delivery (see `PurgeCursor`).
    skipped_after: Mutex<Option<EventId>>,
}

/// The rules in force at `now`.
pub fn rules(config: &RetentionConfig, now: Timestamp) -> PurgeRules {
    PurgeRules {
        done_before: config.done.before(now),
        skipped_before: config.skipped.before(now),
        dead_before: config.dead.before(now),
        batch: config.batch.max(1),
    }
}

/// One whole pass from `cursor` (the start, for a fresh pass); `pause` between steps. Returns
/// what went (or would go, in a dry run) and the last cursor of the events without deliveries.
pub async fn pass(
    store: &dyn Store,
    rules: &PurgeRules,
    mut cursor: PurgeCursor,
    dry_run: bool,
    pause: Duration,
) -> Result<(PurgeCounts, Option<EventId>), StoreError> {
    let mut total = PurgeCounts::default();
    let mut skipped_after = None;
    loop {
        if let PurgeCursor::Skipped { after } = &cursor {
            skipped_after = *after;
        }
        let step = store.purge_step(rules, &cursor, dry_run).await?;
        total.add(step.counts);
        if !dry_run {
            count(step.counts);
        }
        match step.next {
            Some(next) => cursor = next,
            None => return Ok((total, skipped_after)),
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

fn count(c: PurgeCounts) {
    for (table, n) in [
        ("events", c.events),
        ("deliveries", c.deliveries),
        ("attempts", c.attempts),
        ("event_tickets", c.ticket_index),
    ] {
        if n > 0 {
            metrics::counter!("itsm_bridge_purged_rows_total", "table" => table).increment(n);
        }
    }
}

impl Purger {
    pub fn new(store: Arc<dyn Store>, config: RetentionConfig, owner: impl Into<String>) -> Self {
        Self {
            store,
            config,
            owner: owner.into(),
            skipped_after: Mutex::new(None),
        }
    }

    /// One pass at `now` (the events without deliveries from where the last pass left them).
    pub async fn tick(&self, now: Timestamp) -> Result<PurgeCounts, StoreError> {
        let rules = rules(&self.config, now);
        let after = *self.skipped_after.lock().unwrap_or_else(|p| p.into_inner());
        let (counts, reached) = pass(
            &*self.store,
            &rules,
            PurgeCursor::Skipped { after },
            false,
            PAUSE,
        )
        .await?;
        *self.skipped_after.lock().unwrap_or_else(|p| p.into_inner()) = reached;
        Ok(counts)
    }

    /// Purges every `interval_secs` until `token` is cancelled.
    pub async fn run(self, token: CancellationToken) {
        let every = Duration::from_secs(self.config.interval_secs.max(1));
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let now = time::OffsetDateTime::now_utc();
            match self
                .store
                .try_lease(LEASE, &self.owner, now, now + every * 2)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue, // another replica purges
                Err(e) => {
                    tracing::warn!(error = %e, "retention: cannot take the purge lease");
                    continue;
                }
            }
            match self.tick(now).await {
                Ok(c) if c.total() > 0 => tracing::info!(
                    purged.events = c.events,
                    purged.deliveries = c.deliveries,
                    purged.attempts = c.attempts,
                    purged.event_tickets = c.ticket_index,
                    "retention pass done"
                ),
                Ok(_) => tracing::debug!("retention pass: nothing past retention"),
                Err(e) => {
                    tracing::warn!(error = %e, "retention pass failed; the next one starts over")
                }
            }
        }
    }
}
