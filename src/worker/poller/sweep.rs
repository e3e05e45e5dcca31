//! Sweeps over a tenant's links, for what the change scan cannot see: open objects of APIs
//! without a change listing (Wholesale trouble tickets), and the periodic reconciliation.

use super::{Batch, CycleReport, FINAL_STATUSES, PollError, Poller};
use crate::domain::{OrangeApi, TenantId, TicketKey};

impl Poller {
    /// Reads the open linked objects of the APIs that cannot list changes.
    pub(super) async fn read_open(
        &self,
        tenant: &TenantId,
        rep: &mut CycleReport,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        let mut after: Option<TicketKey> = None;
        loop {
            let links = self.store.list_links(tenant, after.as_ref(), 500).await?;
            let Some(last) = links.last() else {
                return Ok(());
            };
            after = Some(last.ticket.clone());
            let mut open = Vec::new();
            for link in links
                .into_iter()
                .filter(|l| self.settings.per_object_apis.contains(&l.api))
            {
                let state = self.store.remote_state(&link.ticket).await?;
                let closed = state
                    .and_then(|s| s.status)
                    .is_some_and(|s| FINAL_STATUSES.iter().any(|f| f.eq_ignore_ascii_case(&s)));
                if !closed {
                    open.push(link);
                }
            }
            self.get_and_observe(open, rep, batch).await?;
        }
    }

    /// Re-reads every linked object of the tenant (one get, plus notes when not embedded).
    pub(super) async fn reconcile(
        &self,
        tenant: &TenantId,
        rep: &mut CycleReport,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        let mut after: Option<TicketKey> = None;
        loop {
            let links = self.store.list_links(tenant, after.as_ref(), 500).await?;
            let Some(last) = links.last() else {
                return Ok(());
            };
            after = Some(last.ticket.clone());
            let wanted = links
                .into_iter()
                .filter(|l| l.api != OrangeApi::CoreInformation)
                .collect();
            self.get_and_observe(wanted, rep, batch).await?;
        }
    }
}
