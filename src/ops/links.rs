//! Linking a ticket to its Orange object by hand, and the deliveries waiting for a link;
//! shared by `itsm-bridge links …` and `/admin/v1/links`.
//!
//! A link by hand is for a ticket that predates the gateway, or whose create was skipped or
//! failed while the object exists at Orange: once recorded, the ticket's deliveries waiting
//! for it are due at once, and its `no-link` dead letters can be replayed.

use serde::Serialize;

use crate::config::Config;
use crate::domain::{
    Delivery, Link, OrangeApi, SourceName, Target, TenantId, TicketKey, Timestamp,
};
use crate::store::{LinkAdded, ManualLink, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LinksError {
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    #[error("tenant {tenant} has no source {name:?}")]
    UnknownSource { tenant: String, name: String },
    #[error(
        "tenant {tenant} has several sources ({sources}) and no waiting or dead delivery names \
         ticket {ticket:?} under exactly one of them: name the source"
    )]
    AmbiguousSource {
        tenant: String,
        ticket: String,
        sources: String,
    },
    #[error(
        "{0:?} is not an Orange API that links tickets: use incident, trouble_ticket or ordering"
    )]
    BadApi(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error(
        "ticket {} is already linked to {} {} (not {})",
        .existing.ticket.ticket(), .existing.api.as_str(), .existing.orange_id, .wanted
    )]
    TicketLinked { existing: Box<Link>, wanted: String },
    #[error(
        "Orange {} {} is already linked to ticket {}",
        .existing.api.as_str(), .existing.orange_id, .existing.ticket
    )]
    ObjectLinked { existing: Box<Link> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A link to record, as an operator gives it.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    pub tenant: String,
    /// The ITSM's ticket id (`INC0012345`'s sys_id, a Jira key…), as in the delivery's ticket.
    pub ticket: String,
    pub orange_id: String,
    /// `incident` (default), `trouble_ticket` or `ordering`.
    pub api: Option<String>,
    /// Needed only when the tenant has several sources and the ticket is ambiguous.
    pub source: Option<String>,
}

/// What `add` did.
#[derive(Debug, Clone, Serialize)]
pub struct Linked {
    pub ticket: TicketKey,
    pub api: &'static str,
    #[serde(rename = "orangeId")]
    pub orange_id: String,
    /// False when the ticket already had exactly this link.
    pub added: bool,
    /// Deliveries that waited for this link and are due now.
    pub woken: u64,
}

pub fn parse_api(s: &str) -> Result<OrangeApi, LinksError> {
    Ok(
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "incident" => OrangeApi::Incident,
            "trouble_ticket" => OrangeApi::TroubleTicket,
            "ordering" => OrangeApi::Ordering,
            _ => return Err(LinksError::BadApi(s.to_owned())),
        },
    )
}

/// Records the link and wakes the ticket's waiting deliveries.
pub async fn add(
    store: &dyn Store,
    config: &Config,
    req: &LinkRequest,
    now: Timestamp,
) -> Result<Linked, LinksError> {
    if req.ticket.trim().is_empty() {
        return Err(LinksError::Empty("ticket"));
    }
    if req.orange_id.trim().is_empty() {
        return Err(LinksError::Empty("orangeId"));
    }
    let named_api = req.api.as_deref().map(parse_api).transpose()?;
    let tc = config
        .tenant(&req.tenant)
        .ok_or_else(|| LinksError::UnknownTenant(req.tenant.clone()))?;
    let tenant = tc.id.clone();
    let waiting = related(store, &tenant, &req.ticket).await?;
    let source = source_of(config, &tenant, req, &waiting)?;
    let api = match named_api {
        Some(a) => a,
        // The API of the calls that wait, else the Incident API.
        None => waiting
            .iter()
            .find_map(|d| match &d.target {
                Target::Orange(c) if d.ticket.ticket() == req.ticket => Some(c.op.api()),
                _ => None,
            })
            .unwrap_or(OrangeApi::Incident),
    };
    let ticket = TicketKey::new(&tenant, &source, req.ticket.trim());
    let link = ManualLink {
        tenant: tenant.clone(),
        ticket: ticket.clone(),
        api,
        orange_id: req.orange_id.trim().to_owned(),
    };
    let (added, woken) = match store.add_link(&link, now).await? {
        LinkAdded::Added { woken } => (true, woken),
        LinkAdded::Unchanged => (false, 0),
        LinkAdded::Conflict(existing) if existing.ticket == ticket => {
            return Err(LinksError::TicketLinked {
                existing: Box::new(existing),
                wanted: format!("{} {}", api.as_str(), link.orange_id),
            });
        }
        LinkAdded::Conflict(existing) => {
            return Err(LinksError::ObjectLinked {
                existing: Box::new(existing),
            });
        }
    };
    tracing::info!(tenant = %tenant, ticket.id = %ticket, orange.api = api.as_str(),
        orange.id = %link.orange_id, added, woken, "ticket linked by hand");
    Ok(Linked {
        ticket,
        api: api.as_str(),
        orange_id: link.orange_id,
        added,
        woken,
    })
}

/// Waiting and dead deliveries of `tenant` for a ticket with this ITSM id (any source).
async fn related(
    store: &dyn Store,
    tenant: &TenantId,
    ticket: &str,
) -> Result<Vec<Delivery>, StoreError> {
    let mut out: Vec<Delivery> = store
        .waiting_link(Some(tenant), 10_000)
        .await?
        .into_iter()
        .filter(|d| d.ticket.ticket() == ticket.trim())
        .collect();
    out.extend(
        store
            .dead_letters(Some(tenant), 10_000)
            .await?
            .into_iter()
            .filter(|d| d.ticket.ticket() == ticket.trim()),
    );
    Ok(out)
}

/// The source named, else the tenant's only source, else the one source under which the
/// ticket has waiting or dead deliveries.
fn source_of(
    config: &Config,
    tenant: &TenantId,
    req: &LinkRequest,
    related: &[Delivery],
) -> Result<SourceName, LinksError> {
    let tc = config
        .tenant(tenant.as_str())
        .expect("checked by the caller");
    if let Some(s) = &req.source {
        return tc
            .sources
            .keys()
            .find(|k| k.as_str() == s)
            .cloned()
            .ok_or_else(|| LinksError::UnknownSource {
                tenant: tenant.to_string(),
                name: s.clone(),
            });
    }
    if tc.sources.len() == 1 {
        return Ok(tc.sources.keys().next().cloned().expect("one source"));
    }
    let mut named: Vec<&str> = related
        .iter()
        .filter_map(|d| d.ticket.as_str().split('/').nth(1))
        .collect();
    named.sort_unstable();
    named.dedup();
    match named.as_slice() {
        [one] => tc
            .sources
            .keys()
            .find(|k| k.as_str() == *one)
            .cloned()
            .ok_or_else(|| LinksError::UnknownSource {
                tenant: tenant.to_string(),
                name: (*one).to_owned(),
            }),
        _ => Err(LinksError::AmbiguousSource {
            tenant: tenant.to_string(),
            ticket: req.ticket.clone(),
            sources: tc
                .sources
                .keys()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Deliveries waiting for a link, oldest first.
pub async fn waiting(
    store: &dyn Store,
    tenant: Option<&TenantId>,
    limit: u32,
) -> Result<Vec<Delivery>, LinksError> {
    Ok(store.waiting_link(tenant, limit).await?)
}
