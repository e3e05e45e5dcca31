//! Re-read mode: the open linked objects of one API, read one by one, `reread_budget` per
//! cycle, least recently checked first (the check times live in the store, so a restart
//! continues the rotation). With `n` open links every object is read at least once every
//! ceil(n ÷ budget) cycles, whatever Orange does with sorts and filters.

use super::{Batch, CycleReport, PollError, Poller};
use crate::domain::{OrangeApi, TenantId};

impl Poller {
    /// Reads and observes the next `reread_budget` open linked objects of `api`.
    pub(super) async fn reread(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        rep: &mut CycleReport,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        let links = self
            .store
            .links_to_check(tenant, api, self.settings.reread_budget)
            .await?;
        if links.is_empty() {
            return Ok(());
        }
        let read = self.get_and_observe(links, true, rep, batch).await?;
        batch.checks.extend(read);
        Ok(())
    }
}
