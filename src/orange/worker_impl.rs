//! The dispatcher's [`OrangeGateway`] over every tenant's client: admission against the
//! credential's rate budget, and delivery with the read-back of an earlier try inside.
//!
//! The read-back is what keeps a retry from making a duplicate: a create whose earlier try
//! may have been applied is settled by its external reference (`guard.rs`) and linked when
//! found; any other call is checked against its linked object (`reconcile.rs`) and not sent
//! again when it is already there.

use std::time::Duration;

use async_trait::async_trait;

use super::client::OrangeClient;
use super::guard::CreateLookup;
use super::{OrangeClients, error};
use crate::domain::{
    CREATE_OUTCOME_UNKNOWN, CallFailure, FailureClass, OrangeCall, TenantId, Timestamp,
    UNKNOWN_TENANT_HOLD,
};
use crate::worker::{Delivered, OrangeGateway};

fn no_client(tenant: &TenantId) -> CallFailure {
    error::permanent(format!("no Orange credentials for tenant {tenant}"))
}

#[async_trait]
impl OrangeGateway for OrangeClients {
    fn admit(&self, tenant: &TenantId, max_wait: Duration) -> Result<(), Duration> {
        // A tenant no longer served keeps its deliveries queued (see `UNKNOWN_TENANT_HOLD`).
        let Some(c) = self.get(tenant) else {
            return Err(UNKNOWN_TENANT_HOLD);
        };
        let limiter = &c.cred.limiter;
        if limiter.expected_wait() <= max_wait {
            return Ok(());
        }
        Err(limiter.defer_for(max_wait / 2))
    }

    async fn deliver(
        &self,
        tenant: &TenantId,
        call: &OrangeCall,
        linked: Option<&str>,
        earlier: Option<Timestamp>,
    ) -> Result<Delivered, CallFailure> {
        let c = self.get(tenant).ok_or_else(|| no_client(tenant))?;
        c.deliver(call, linked, earlier).await
    }
}

impl OrangeClient {
    /// Carries out `call`, first reading back an earlier try when `earlier` says one may have
    /// been sent (see [`OrangeGateway::deliver`]).
    pub async fn deliver(
        &self,
        call: &OrangeCall,
        linked: Option<&str>,
        earlier: Option<Timestamp>,
    ) -> Result<Delivered, CallFailure> {
        if let Some(sent_after) = earlier
            && let Some(applied) = self.read_back(call, linked, sent_after).await?
        {
            return Ok(applied);
        }
        let executed = self.execute(call, linked).await?;
        Ok(Delivered::Sent {
            created_id: executed.created_id,
        })
    }

    /// What an earlier try of `call` came to: `Some` when it is already applied at Orange,
    /// `None` when sending is safe.
    async fn read_back(
        &self,
        call: &OrangeCall,
        linked: Option<&str>,
        sent_after: Timestamp,
    ) -> Result<Option<Delivered>, CallFailure> {
        if call.op.creates() {
            // An earlier try may have created it (a timeout or dropped connection after the
            // request left, or an error answer from a create that was applied anyway).
            let Some(ext) = &call.external_ref else {
                return Ok(None);
            };
            return match self.find_created(call.op.api(), ext, sent_after).await? {
                CreateLookup::Found(id) => Ok(Some(Delivered::AlreadyApplied {
                    created_id: Some(id),
                })),
                CreateLookup::Absent => Ok(None),
                // Neither linking an unverified object nor creating a second one is safe.
                CreateLookup::Unknown(why) => Err(CallFailure {
                    class: FailureClass::Permanent,
                    http_status: None,
                    code: Some(CREATE_OUTCOME_UNKNOWN.to_owned()),
                    message: format!(
                        "{CREATE_OUTCOME_UNKNOWN}: an earlier create may have been applied \
                         and cannot be verified ({why}); check in Orange whether an object \
                         carries {ext}"
                    ),
                }),
            };
        }
        // An earlier try may have been applied although it failed (a dropped connection, or
        // an error answer from a server that applied it).
        match linked {
            Some(id) if self.already_applied(call, id).await? => {
                Ok(Some(Delivered::AlreadyApplied { created_id: None }))
            }
            _ => Ok(None),
        }
    }
}
