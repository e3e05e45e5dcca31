//! A tenant at a glance, as the console's overview and `GET /admin/v1/overview` show it: the
//! last hour's activity and the queue ([`TenantActivity`]), the use of its Orange rate budget
//! ([`Budget`]) and its last poll cycle ([`PollView`]). Everything comes from the store, so
//! every replica shows the same; the budget and the poll interval from the config in force.

use serde::Serialize;

use crate::config::{PollerConfig, TenantConfig};
use crate::domain::{TenantId, Timestamp};
use crate::store::{AdminStore, CycleOutcome, PollCycle, StoreResult, TenantActivity};

/// Minutes the overview covers (its charts have one bar each).
pub const MINUTES: i64 = 60;

/// A poll cycle older than this many poll intervals is stale: the poller may have stopped.
pub const STALE_AFTER_INTERVALS: u64 = 3;

/// One tenant's overview.
#[derive(Debug, Clone, Serialize)]
pub struct TenantOverview {
    pub tenant: TenantId,
    /// The start of the window's first minute.
    #[serde(with = "time::serde::rfc3339")]
    pub since: Timestamp,
    pub activity: TenantActivity,
    pub budget: Budget,
    pub poll: PollView,
}

/// The start of the minute `MINUTES - 1` minutes before `now`'s: the window ends with the
/// current minute.
pub fn window_start(now: Timestamp) -> Timestamp {
    let since = now - time::Duration::minutes(MINUTES - 1);
    since
        .replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(since)
}

/// `tenant`'s overview at `now`.
pub async fn tenant_overview(
    store: &dyn AdminStore,
    tenant: &TenantConfig,
    poller: &PollerConfig,
    now: Timestamp,
) -> StoreResult<TenantOverview> {
    let since = window_start(now);
    let activity = store.tenant_activity(&tenant.id, since).await?;
    let cycles = store.poll_cycles(&tenant.id).await?;
    let first = since.unix_timestamp() / 60;
    let mut calls = vec![0_u64; MINUTES as usize];
    for m in &activity.minutes {
        if let Some(slot) = usize::try_from(m.minute - first)
            .ok()
            .and_then(|i| calls.get_mut(i))
        {
            *slot = m.orange_calls;
        }
    }
    Ok(TenantOverview {
        tenant: tenant.id.clone(),
        since,
        budget: Budget::new(calls, tenant.orange.rate_limit.per_second),
        poll: PollView::new(cycles, poller, now),
        activity,
    })
}

/// The use of a tenant's Orange rate budget: Orange calls attempted per minute (the stored
/// delivery attempts of Orange calls; the poller's reads and the dispatcher's look-ups by
/// external reference are not stored, so not counted) against what its credential allows.
/// Calls deferred for the budget are not attempts and not stored: they show only in the
/// metric `itsm_bridge_deliveries_deferred_total`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    /// Orange calls a minute the credential allows (`rate_limit.per_second` × 60, summed over
    /// replicas); `None`: no limit.
    pub per_minute: Option<u64>,
    /// Orange calls attempted in each minute of the window, oldest first, the current
    /// (unfinished) minute last.
    pub calls: Vec<u64>,
    /// The busiest minute's calls, in percent of `per_minute` (one decimal).
    pub peak_percent: Option<f64>,
    /// The window's calls, in percent of the window's budget (one decimal).
    pub hour_percent: Option<f64>,
}

impl Budget {
    /// The budget use of `calls` (one count per minute) under a limit of `per_second`
    /// (0: none).
    pub fn new(calls: Vec<u64>, per_second: u32) -> Self {
        let per_minute = (per_second > 0).then(|| u64::from(per_second) * 60);
        let percent = |n: u64, of: u64| (n as f64 * 1000.0 / of as f64).round() / 10.0;
        let peak = calls.iter().copied().max().unwrap_or(0);
        let total: u64 = calls.iter().sum();
        let minutes = calls.len().max(1) as u64;
        Budget {
            per_minute,
            peak_percent: per_minute.map(|b| percent(peak, b)),
            hour_percent: per_minute.map(|b| percent(total, b * minutes)),
            calls,
        }
    }
}

/// A tenant's last poll cycle, from every replica's records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollView {
    /// `poller.enabled`.
    pub enabled: bool,
    /// `poller.interval_secs`.
    pub interval_secs: u64,
    /// The latest cycle that ran (ok or failed), whichever replica ran it.
    pub last: Option<PollCycle>,
    /// Seconds from the end of `last` to now.
    pub age_secs: Option<i64>,
    /// `last` ended more than 3 poll intervals ago while the poller is on.
    pub stale: bool,
    /// Each replica's own last record, the latest first (skips included).
    pub records: Vec<PollCycle>,
}

impl PollView {
    /// The view of `records` (latest ended first, as the store gives them) at `now`.
    pub fn new(records: Vec<PollCycle>, poller: &PollerConfig, now: Timestamp) -> Self {
        let last = records
            .iter()
            .find(|c| c.outcome != CycleOutcome::Skipped)
            .cloned();
        let age_secs = last.as_ref().map(|c| (now - c.ended_at).whole_seconds());
        let limit = poller.interval_secs.saturating_mul(STALE_AFTER_INTERVALS);
        let stale =
            poller.enabled && age_secs.is_some_and(|a| u64::try_from(a).is_ok_and(|a| a > limit));
        PollView {
            enabled: poller.enabled,
            interval_secs: poller.interval_secs,
            last,
            age_secs,
            stale,
            records,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn poller(interval_secs: u64) -> PollerConfig {
        serde_json::from_value(serde_json::json!({ "interval_secs": interval_secs })).unwrap()
    }

    fn cycle(replica: &str, outcome: CycleOutcome, ended: Timestamp) -> PollCycle {
        PollCycle {
            tenant: TenantId::parse("acme").unwrap(),
            replica: replica.into(),
            started_at: ended,
            ended_at: ended,
            outcome,
            detail: None,
            orange_calls: 1,
            changes: 0,
            writebacks: 0,
            failed_reads: 0,
            modes: BTreeMap::new(),
        }
    }

    #[test]
    fn budget_use_is_the_calls_of_a_minute_against_sixty_times_the_rate() {
        // 10 calls/s = 600 a minute; 30 minutes of 150 calls and one of 540.
        let mut calls = vec![0; 60];
        calls[..30].fill(150);
        calls[45] = 540;
        let b = Budget::new(calls, 10);
        assert_eq!(b.per_minute, Some(600));
        assert_eq!(b.peak_percent, Some(90.0));
        // (30 × 150 + 540) ÷ (600 × 60) = 5040 ÷ 36000 = 14%.
        assert_eq!(b.hour_percent, Some(14.0));
        assert_eq!(Budget::new(vec![1; 60], 3).peak_percent, Some(0.6));
    }

    #[test]
    fn a_tenant_without_a_rate_limit_has_no_budget_figures() {
        let b = Budget::new(vec![5; 60], 0);
        assert_eq!(
            (b.per_minute, b.peak_percent, b.hour_percent),
            (None, None, None)
        );
        assert_eq!(b.calls.iter().sum::<u64>(), 300);
    }

    #[test]
    fn the_last_cycle_is_the_latest_that_ran_and_is_stale_after_three_intervals() {
        let now = time::macros::datetime!(2026-12-01 10:00:00 UTC);
        let records = vec![
            cycle("b", CycleOutcome::Skipped, now),
            cycle("a", CycleOutcome::Ok, now - time::Duration::seconds(90)),
        ];
        let v = PollView::new(records.clone(), &poller(30), now);
        let last = v.last.as_ref().unwrap();
        assert_eq!((last.replica.as_str(), v.age_secs), ("a", Some(90)));
        assert!(!v.stale, "exactly three intervals is not stale yet");
        let v = PollView::new(records, &poller(29), now);
        assert!(v.stale);
        let only_skips = vec![cycle("b", CycleOutcome::Skipped, now)];
        let v = PollView::new(only_skips, &poller(30), now);
        assert_eq!((v.last, v.stale, v.records.len()), (None, false, 1));
    }

    #[test]
    fn the_window_starts_at_the_minute_fifty_nine_minutes_back() {
        let now = time::macros::datetime!(2026-12-01 10:00:42.5 UTC);
        assert_eq!(
            window_start(now),
            time::macros::datetime!(2026-12-01 09:01:00 UTC)
        );
    }
}
