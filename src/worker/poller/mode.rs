//! Which way the poller watches an Orange API: the incremental scan (`sort=-lastUpdateDate`,
//! `lastUpdateDate>=watermark`) or re-reading the open linked objects one by one.
//!
//! The scan is cheap but rests on two inferred behaviours (docs/orange-assumptions.md): if
//! Orange ignores the sort, changes to older objects sit below the first page and are never
//! seen; if it rejects either, every cycle fails. So with `poller.scan: auto` the poller asks
//! the reader's read-only probes at the first cycle, after a failed scan and every
//! `poller.reprobe_secs` (Orange may start or stop honouring them under a running poller), and
//! scans only when both are honoured. While the probes cannot tell (a fresh tenant: no objects
//! to compare) it re-reads, which is right under every behaviour, and probes again each cycle
//! until the data is there. The choice is logged once per change (INFO; WARN when Orange is
//! seen not to honour the scan) and exported as the gauge
//! `itsm_bridge_poll_mode{tenant, api, mode}`.

use std::fmt;

use super::{CycleReport, Poller};
use crate::config::ScanChoice;
use crate::domain::{OrangeApi, TenantId, Timestamp};

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

    /// One of the two is seen not to work: the scan cannot be trusted whatever the other is.
    fn refuted(&self) -> bool {
        [self.sort, self.range]
            .iter()
            .any(|s| matches!(s, Support::Ignored | Support::Rejected))
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
/// the probe failed or could not tell, the scan failed) is probed again at the next cycle, a
/// settled one when `reprobe_every` has passed since `probed_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ModeState {
    pub mode: ScanMode,
    pub settled: bool,
    /// The cycle time of the probe that set it (`None` when forced by `poller.scan`).
    pub probed_at: Option<Timestamp>,
}

impl ModeState {
    /// Whether `self` says something new against `before` (the probe time aside).
    fn differs(&self, before: Option<&ModeState>) -> bool {
        before.is_none_or(|b| (b.mode, b.settled) != (self.mode, self.settled))
    }
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
    /// first when nothing is settled or the settled mode is due a re-probe at `now`.
    pub(super) async fn mode_for(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        now: Timestamp,
        rep: &mut CycleReport,
    ) -> ScanMode {
        let forced = match self.settings.scan {
            ScanChoice::Incremental => Some(ScanMode::Incremental),
            ScanChoice::Reread => Some(ScanMode::Reread),
            ScanChoice::Auto => None,
        };
        if let Some(mode) = forced {
            let state = ModeState {
                mode,
                settled: true,
                probed_at: None,
            };
            self.settle(tenant, api, state, || {
                tracing::info!(tenant = %tenant, orange.api = api.as_str(), poll.mode = %mode, "poll mode set by poller.scan");
            });
            return mode;
        }
        let before = self.mode_state(tenant, api);
        if let Some(s) = before
            && s.settled
            && s.probed_at
                .is_some_and(|at| now - at < self.settings.reprobe_every)
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
                let settled = found.scannable() || found.refuted();
                let state = ModeState {
                    mode,
                    settled,
                    probed_at: Some(now),
                };
                self.settle(tenant, api, state, || {
                    let (sort, range) = (verdict(found.sort), verdict(found.range));
                    if mode == ScanMode::Incremental {
                        tracing::info!(tenant = %tenant, orange.api = api.as_str(), poll.mode = %mode, "Orange honours sort=-lastUpdateDate and lastUpdateDate>=; scanning by last update");
                    } else if settled {
                        tracing::warn!(tenant = %tenant, orange.api = api.as_str(), poll.mode = %mode, orange.sort = sort, orange.range_filter = range, budget = self.settings.reread_budget, "the incremental scan cannot be trusted; re-reading open linked objects (set poller.scan to force a mode)");
                    } else {
                        // Nothing contradicts the scan yet (no objects to compare, usually a
                        // new tenant): not a fault, so not a warning.
                        tracing::info!(tenant = %tenant, orange.api = api.as_str(), poll.mode = %mode, orange.sort = sort, orange.range_filter = range, "too few Orange objects to tell whether sort=-lastUpdateDate and lastUpdateDate>= are honoured; re-reading open linked objects and probing again each cycle");
                    }
                });
                mode
            }
            Err(e) => {
                // Undecided: re-reading is safe under every behaviour; probe again next cycle.
                let mode = ScanMode::Reread;
                let state = ModeState {
                    mode,
                    settled: false,
                    probed_at: Some(now),
                };
                self.settle(tenant, api, state, || {
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
    /// failing every cycle, or a re-probe confirming the mode, is told once or not at all),
    /// and moves the gauge when the mode changed.
    fn settle(&self, tenant: &TenantId, api: OrangeApi, next: ModeState, announce: impl FnOnce()) {
        let Ok(mut m) = self.modes.lock() else {
            return;
        };
        let before = m.insert((tenant.clone(), api), next);
        drop(m);
        if !next.differs(before.as_ref()) {
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
