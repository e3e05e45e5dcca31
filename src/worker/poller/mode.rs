//! Which way the poller watches an Orange API: the incremental scan (`sort=-lastUpdateDate`,
//! `lastUpdateDate>=watermark`) or re-reading the open linked objects one by one.
//!
//! The scan is cheap but rests on two inferred behaviours (docs/orange-assumptions.md): if
//! Orange ignores the sort, changes to older objects sit below the first page and are never
//! seen; if it rejects either, every cycle fails. So with `poller.scan: auto` the poller asks
//! the reader's read-only probes at the first cycle, and again after a failed scan, and scans
//! only when both are honoured. The choice is logged once per change (INFO; WARN when falling
//! back) and exported as the gauge `itsm_bridge_poll_mode{tenant, api, mode}`.

use std::fmt;

use super::{CycleReport, Poller};
use crate::config::ScanChoice;
use crate::domain::{OrangeApi, TenantId};

/// What a read-only probe found out about one listing feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Orange applies it.
    Honoured,
    /// Orange answers, but as if it had not been asked.
    Ignored,
    /// Orange answers 400.
    Rejected,
    /// The probe could not tell (too few objects to compare, say).
    Unknown,
}

/// The probes' verdict on the incremental scan's two assumptions, for one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanSupport {
    /// `sort=-lastUpdateDate`.
    pub sort: Support,
    /// `lastUpdateDate>=`.
    pub range: Support,
    /// Orange calls the probes made.
    pub calls: u32,
}

impl ScanSupport {
    fn scannable(&self) -> bool {
        self.sort == Support::Honoured && self.range == Support::Honoured
    }
}

/// How an API is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanMode {
    Incremental,
    Reread,
}

impl ScanMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::Reread => "reread",
        }
    }
}

impl fmt::Display for ScanMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The mode of one (tenant, API) and whether it is settled; an unsettled mode (never probed,
/// the probe failed, the scan failed) is probed again at the next cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ModeState {
    pub mode: ScanMode,
    pub settled: bool,
}

fn verdict(s: Support) -> &'static str {
    match s {
        Support::Honoured => "honoured",
        Support::Ignored => "ignored",
        Support::Rejected => "rejected",
        Support::Unknown => "undecided",
    }
}

impl Poller {
    /// The mode for `api` this cycle: the configured one, or (auto) the settled one, probing
    /// first when nothing is settled.
    pub(super) async fn mode_for(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        rep: &mut CycleReport,
    ) -> ScanMode {
        let forced = match self.settings.scan {
            ScanChoice::Incremental => Some(ScanMode::Incremental),
            ScanChoice::Reread => Some(ScanMode::Reread),
            ScanChoice::Auto => None,
        };
        if let Some(mode) = forced {
            self.settle(tenant, api, ModeState { mode, settled: true }, || {
                tracing::info!(tenant = %tenant, orange.api = api.as_str(), poll.mode = %mode, "poll mode set by poller.scan");
            });
            return mode;
        }
        if let Some(s) = self.mode_state(tenant, api)
            && s.settled
        {
            return s.mode;
        }
        match self.reader.scan_support(tenant, api).await {
            Ok(found) => {
                rep.calls += found.calls;
                let mode = if found.scannable() {
                    ScanMode::Incremental
                } else {
                    ScanMode::Reread
                };
                let settled = found.sort != Support::Unknown && found.range != Support::Unknown;
                self.settle(tenant, api, ModeState { mode, settled }, || {
                    if mode == ScanMode::Incremental {
                        tracing::info!(tenant = %tenant, orange.api = api.as_str(), poll.mode = %mode, "Orange honours sort=-lastUpdateDate and lastUpdateDate>=; scanning by last update");
                    } else {
                        tracing::warn!(tenant = %tenant, orange.api = api.as_str(), poll.mode = %mode, orange.sort = verdict(found.sort), orange.range_filter = verdict(found.range), budget = self.settings.reread_budget, "the incremental scan cannot be trusted; re-reading open linked objects (set poller.scan to force a mode)");
                    }
                });
                mode
            }
            Err(e) => {
                // Undecided: re-reading is safe under every behaviour; probe again next cycle.
                let mode = ScanMode::Reread;
                self.settle(tenant, api, ModeState { mode, settled: false }, || {
                    tracing::warn!(tenant = %tenant, orange.api = api.as_str(), poll.mode = %mode, error = %e, "probing the incremental scan failed; re-reading open linked objects until a probe succeeds");
                });
                mode
            }
        }
    }

    /// After a failed incremental scan: the mode is probed again (now, by the caller).
    pub(super) fn unsettle(&self, tenant: &TenantId, api: OrangeApi) {
        if self.settings.scan != ScanChoice::Auto {
            return;
        }
        if let Ok(mut m) = self.modes.lock()
            && let Some(s) = m.get_mut(&(tenant.clone(), api))
        {
            s.settled = false;
        }
    }

    fn mode_state(&self, tenant: &TenantId, api: OrangeApi) -> Option<ModeState> {
        self.modes
            .lock()
            .ok()
            .and_then(|m| m.get(&(tenant.clone(), api)).copied())
    }

    /// Records `next`; calls `announce` only when the mode or its settledness changed (a probe
    /// failing every cycle is told once), and moves the gauge when the mode changed.
    fn settle(&self, tenant: &TenantId, api: OrangeApi, next: ModeState, announce: impl FnOnce()) {
        let Ok(mut m) = self.modes.lock() else {
            return;
        };
        let before = m.insert((tenant.clone(), api), next);
        drop(m);
        if before == Some(next) {
            return;
        }
        announce();
        if before.map(|b| b.mode) == Some(next.mode) {
            return;
        }
        for mode in [ScanMode::Incremental, ScanMode::Reread] {
            metrics::gauge!("itsm_bridge_poll_mode", "tenant" => tenant.to_string(), "api" => api.as_str(), "mode" => mode.as_str())
                .set(if mode == next.mode { 1.0 } else { 0.0 });
        }
    }

    /// The mode each (tenant, API) is watched in now, for tests and the admin view.
    pub fn modes(&self) -> Vec<(TenantId, OrangeApi, ScanMode)> {
        let Ok(m) = self.modes.lock() else {
            return Vec::new();
        };
        let mut v: Vec<_> = m
            .iter()
            .map(|((t, a), s)| (t.clone(), *a, s.mode))
            .collect();
        v.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
        v
    }
}
