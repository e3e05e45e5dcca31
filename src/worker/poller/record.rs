//! The record of each tenant's cycle: when it started and ended, how it went (ok, failed with
//! its error, or skipped because another replica holds the lease), its figures and the mode
//! each API was watched in. Kept in the store (`PollState::record_poll_cycle`) so that every
//! replica's console and admin API show it, and exported as the gauge
//! `itsm_bridge_poll_last_cycle_timestamp_seconds{tenant}` (the end of the last cycle that
//! ran, for an alert on a poller that stopped).

use std::collections::BTreeMap;

use super::{CycleReport, PollError, Poller, ScanMode};
use crate::domain::{TenantId, Timestamp};
use crate::store::{CycleOutcome, PollCycle};

impl Poller {
    /// One tenant's cycle ([`Poller::poll_tenant`]), then its record: a record that cannot be
    /// written is logged and costs the cycle nothing.
    pub(super) async fn poll_and_record(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Option<CycleReport>, PollError> {
        let clock = tokio::time::Instant::now();
        let r = self.poll_tenant(tenant, now).await;
        let ended = now + clock.elapsed();
        let record = cycle_record(tenant, &self.owner, (now, ended), &r, self.modes_of(tenant));
        if record.outcome != CycleOutcome::Skipped {
            metrics::gauge!("itsm_bridge_poll_last_cycle_timestamp_seconds", "tenant" => tenant.to_string())
                .set(ended.unix_timestamp() as f64);
        }
        if let Err(e) = self.store.record_poll_cycle(&record).await {
            tracing::warn!(tenant = %tenant, error = %e, "the poll cycle's record was not stored");
        }
        r
    }

    /// How each API of `tenant` is watched now: the scanned ones by their mode, the ones
    /// without a change listing re-read.
    fn modes_of(&self, tenant: &TenantId) -> BTreeMap<String, String> {
        let mut modes: BTreeMap<String, String> = self
            .modes()
            .into_iter()
            .filter(|(t, _, _)| t == tenant)
            .map(|(_, api, mode)| (api.as_str().to_owned(), mode.as_str().to_owned()))
            .collect();
        for api in &self.settings.per_object_apis {
            modes.insert(
                api.as_str().to_owned(),
                ScanMode::Reread.as_str().to_owned(),
            );
        }
        modes
    }
}

/// What is stored of a cycle of `tenant` by `replica` over `(started, ended)`.
pub(super) fn cycle_record(
    tenant: &TenantId,
    replica: &str,
    (started, ended): (Timestamp, Timestamp),
    r: &Result<Option<CycleReport>, PollError>,
    modes: BTreeMap<String, String>,
) -> PollCycle {
    let (outcome, detail, rep) = match r {
        Ok(Some(rep)) => {
            let detail = (!rep.failed_apis.is_empty()).then(|| {
                let apis: Vec<&str> = rep.failed_apis.iter().map(|a| a.as_str()).collect();
                format!(
                    "listing failed for {}; their watermarks stayed",
                    apis.join(", ")
                )
            });
            (CycleOutcome::Ok, detail, rep.clone())
        }
        Ok(None) => (
            CycleOutcome::Skipped,
            Some("another replica holds the tenant's poll lease".to_owned()),
            CycleReport::default(),
        ),
        Err(e) => (
            CycleOutcome::Error,
            Some(e.to_string()),
            CycleReport::default(),
        ),
    };
    PollCycle {
        tenant: tenant.clone(),
        replica: replica.to_owned(),
        started_at: started,
        ended_at: ended,
        outcome,
        detail,
        orange_calls: rep.calls,
        changes: rep.changes,
        writebacks: rep.writebacks,
        failed_reads: rep.failed_reads,
        modes,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{now, poller, settings, setup, tenant};
    use super::*;
    use crate::domain::{CallFailure, FailureClass, OrangeApi};

    #[tokio::test]
    async fn each_cycle_is_recorded_with_its_figures_and_a_second_replica_records_a_skip() {
        let (store, reader) = setup(2);
        reader.incidents.lock().unwrap()[0].status = "IN_PROGRESS".into();
        let a = poller(&store, &reader, "replica-a", settings(50));
        a.tick(now()).await;
        let b = poller(&store, &reader, "replica-b", settings(50));
        b.tick(now()).await;
        let cycles = store.cycles.lock().unwrap().clone();
        assert_eq!(cycles.len(), 2, "{cycles:?}");
        let (ran, skipped) = (&cycles[0], &cycles[1]);
        assert_eq!(
            (ran.replica.as_str(), ran.outcome, ran.detail.as_deref()),
            ("replica-a", CycleOutcome::Ok, None)
        );
        assert_eq!(ran.tenant, tenant());
        assert_eq!(ran.started_at, now());
        assert!(ran.ended_at >= ran.started_at);
        assert_eq!((ran.orange_calls, ran.changes, ran.writebacks), (3, 2, 2));
        assert_eq!(ran.modes["incident"], "incremental");
        assert_eq!(
            (skipped.replica.as_str(), skipped.outcome),
            ("replica-b", CycleOutcome::Skipped)
        );
        assert_eq!(skipped.orange_calls, 0);
    }

    #[test]
    fn a_failed_cycle_is_recorded_with_its_error_and_no_figures() {
        let failure = CallFailure {
            class: FailureClass::Permanent,
            http_status: Some(403),
            code: Some("40300".into()),
            message: "no access to this API".into(),
        };
        let r = Err(PollError::Orange(failure));
        let rec = cycle_record(&tenant(), "r", (now(), now()), &r, BTreeMap::new());
        assert_eq!(rec.outcome, CycleOutcome::Error);
        assert!(
            rec.detail
                .as_deref()
                .unwrap()
                .contains("no access to this API"),
            "{rec:?}"
        );
        assert_eq!((rec.orange_calls, rec.writebacks), (0, 0));
        let partly = Ok(Some(CycleReport {
            calls: 4,
            failed_apis: vec![OrangeApi::Ordering],
            ..CycleReport::default()
        }));
        let rec = cycle_record(&tenant(), "r", (now(), now()), &partly, BTreeMap::new());
        assert_eq!(rec.outcome, CycleOutcome::Ok);
        assert_eq!(
            rec.detail.as_deref(),
            Some("listing failed for ordering; their watermarks stayed")
        );
        assert_eq!(rec.orange_calls, 4);
    }
}
