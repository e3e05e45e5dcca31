//! The periodic reconciliation: a sweep over all of a tenant's links, for what the change
//! scan missed.

use super::{Batch, CycleReport, PollError, Poller};
use crate::domain::{OrangeApi, TenantId, TicketKey};

impl Poller {
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
            self.get_and_observe(wanted, false, rep, batch).await?;
        }
    }
}
