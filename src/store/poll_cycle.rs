//! The record of a tenant's last poll cycle (`PollState::record_poll_cycle`, written by the
//! poller at the end of each cycle; `AdminStore::poll_cycles`, read by the console and the
//! admin API), so that every replica shows when a tenant was last polled and how it went.
//!
//! One row per (tenant, replica): a replica that finds the lease held by another records a
//! `skipped` cycle without hiding the lease holder's last real one. The SQL is written once
//! for both backends (sqlx numbers the placeholders).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{StoreError, StoreResult};
use crate::domain::{TenantId, Timestamp};

/// Rows of a replica that has recorded nothing for this long are removed by the next write
/// of the tenant's cycle (a replica that left, or a renamed one).
pub(crate) const FORGET_AFTER_MS: i64 = 24 * 3_600_000;

/// How a poll cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CycleOutcome {
    /// The cycle ran to its end (an API whose listing failed is counted in the cycle's
    /// figures, not here: the others went on).
    Ok,
    /// The cycle failed (`detail` says why); the watermark did not move.
    Error,
    /// Another replica holds the tenant's lease: this one did not poll.
    Skipped,
}

impl CycleOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "ok" => Ok(Self::Ok),
            "error" => Ok(Self::Error),
            "skipped" => Ok(Self::Skipped),
            other => Err(StoreError::Corrupt(format!("poll cycle outcome {other:?}"))),
        }
    }
}

/// One replica's last poll cycle of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PollCycle {
    pub tenant: TenantId,
    /// The replica that ran it (the poller's lease owner name).
    pub replica: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub ended_at: Timestamp,
    pub outcome: CycleOutcome,
    /// The error of a failed cycle, or why one was skipped.
    pub detail: Option<String>,
    /// Orange calls the cycle made (list pages, object and note reads, probes).
    pub orange_calls: u32,
    /// Linked Orange objects found changed.
    pub changes: u32,
    /// ITSM write-backs the cycle queued.
    pub writebacks: u32,
    /// Object reads that failed (read again next cycle).
    pub failed_reads: u32,
    /// How each Orange API was watched in this cycle: `incremental` or `reread`.
    pub modes: BTreeMap<String, String>,
}

/// A `poll_cycles` row as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct PollCycleRow {
    pub tenant: String,
    pub replica: String,
    pub started_at: i64,
    pub ended_at: i64,
    pub outcome: String,
    pub detail: Option<String>,
    pub orange_calls: i64,
    pub changes: i64,
    pub writebacks: i64,
    pub failed_reads: i64,
    pub modes: String,
}

/// A tenant's records as [`PollCycleRow`]s, the latest ended first.
pub(crate) const SELECT_OF_TENANT: &str = "SELECT tenant, replica, started_at, ended_at, \
     outcome, detail, orange_calls, changes, writebacks, failed_reads, modes \
     FROM poll_cycles WHERE tenant = $1 ORDER BY ended_at DESC, replica";

fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl TryFrom<PollCycleRow> for PollCycle {
    type Error = StoreError;
    fn try_from(r: PollCycleRow) -> Result<Self, Self::Error> {
        Ok(PollCycle {
            tenant: TenantId::parse(r.tenant)
                .map_err(|e| StoreError::Corrupt(format!("poll cycle tenant: {e}")))?,
            replica: r.replica,
            started_at: super::codec::ts(r.started_at)?,
            ended_at: super::codec::ts(r.ended_at)?,
            outcome: CycleOutcome::parse(&r.outcome)?,
            detail: r.detail,
            orange_calls: count(r.orange_calls),
            changes: count(r.changes),
            writebacks: count(r.writebacks),
            failed_reads: count(r.failed_reads),
            modes: serde_json::from_str(&r.modes)
                .map_err(|e| StoreError::Corrupt(format!("poll cycle modes: {e}")))?,
        })
    }
}

/// The upsert of a cycle (one row per tenant and replica); binds in the columns' order.
pub(crate) const UPSERT: &str = "INSERT INTO poll_cycles (tenant, replica, started_at, \
     ended_at, outcome, detail, orange_calls, changes, writebacks, failed_reads, modes) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (tenant, replica) DO UPDATE SET started_at = excluded.started_at, \
     ended_at = excluded.ended_at, outcome = excluded.outcome, detail = excluded.detail, \
     orange_calls = excluded.orange_calls, changes = excluded.changes, \
     writebacks = excluded.writebacks, failed_reads = excluded.failed_reads, \
     modes = excluded.modes";

/// The modes of `c` as stored.
pub(crate) fn modes_text(c: &PollCycle) -> StoreResult<String> {
    serde_json::to_string(&c.modes)
        .map_err(|e| StoreError::Corrupt(format!("poll cycle modes: {e}")))
}
