//! The operator actions, once for the admin API and the console: each checks that the
//! principal sees the tenant concerned, runs the operation of `crate::ops` (or the reload),
//! and records in the audit log who did what and how it ended — done or refused.
//!
//! The role (viewer or operator) is checked at the doors (`guard.rs` for the API, the
//! console's session check), before any of these run.

use serde::Serialize;

use super::audit::{self, Act, actions};
use super::principal::Principal;
use crate::config::live::TenantReport;
use crate::domain::{DeliveryId, EventId, TenantId};
use crate::http::AppState;
use crate::http::problem::Problem;
use crate::intake::Replayed as EventReplayed;
use crate::mapping::reload::ReloadReport;
use crate::ops::dlq::{self, Replayed};
use crate::ops::events;
use crate::ops::links::{self, LinkRequest, Linked};

/// What a batch replay did: the items done, those left as they were and those that failed.
#[derive(Debug, Serialize)]
pub struct Batch<T> {
    pub replayed: Vec<T>,
    pub still_parked: Vec<T>,
    pub failed: Vec<serde_json::Value>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Self {
            replayed: Vec::new(),
            still_parked: Vec::new(),
            failed: Vec::new(),
        }
    }
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Records `r` as the outcome of `act` and hands `r` back.
async fn audited<T>(
    state: &AppState,
    who: &Principal,
    act: Act<'_>,
    r: Result<T, Problem>,
    detail: impl FnOnce(&T) -> String,
) -> Result<T, Problem> {
    audit::record(state.store.as_ref(), &who.name, act, r.as_ref().map(detail)).await;
    r
}

/// The tenant of a delivery the principal sees (404 otherwise, as if it did not exist).
async fn delivery_tenant(
    state: &AppState,
    who: &Principal,
    id: DeliveryId,
) -> Result<TenantId, Problem> {
    let missing = || Problem::not_found(format!("no delivery {id}"));
    let d = state.store.delivery(id).await?.ok_or_else(missing)?;
    who.object_of(&d.tenant, format!("no delivery {id}"))?;
    Ok(d.tenant)
}

/// Replays one dead letter.
pub async fn replay_dead_letter(
    state: &AppState,
    who: &Principal,
    id: DeliveryId,
) -> Result<Replayed, Problem> {
    let tenant = delivery_tenant(state, who, id).await.ok();
    let r = match &tenant {
        Some(_) => dlq::replay(
            state.store.as_ref(),
            &state.mappings,
            &state.tenants(),
            id,
            now(),
        )
        .await
        .map_err(Problem::from),
        None => Err(Problem::not_found(format!("no delivery {id}"))),
    };
    let act = Act {
        action: actions::REPLAY_DEAD_LETTER,
        tenant: tenant.as_ref(),
        target: id.to_string(),
    };
    audited(state, who, act, r, |r| {
        if r.rerendered {
            "due now, re-rendered with the current mapping".into()
        } else {
            "due now".into()
        }
    })
    .await
}

/// Replays every dead letter the principal sees (of `tenant`, when given).
pub async fn replay_dead_letters(
    state: &AppState,
    who: &Principal,
    tenant: Option<TenantId>,
) -> Result<Batch<Replayed>, Problem> {
    let mut batch = Batch::default();
    for t in who.tenant_filters(tenant)? {
        let r = dlq::replay_all(
            state.store.as_ref(),
            &state.mappings,
            &state.tenants(),
            t.as_ref(),
            now(),
        )
        .await
        .map_err(Problem::from);
        let (ok, failed) = (batch.replayed.len(), batch.failed.len());
        let r = r.map(|results| {
            for (id, r) in results {
                match r {
                    Ok(r) => batch.replayed.push(r),
                    Err(e) => batch
                        .failed
                        .push(serde_json::json!({ "id": id, "error": e.to_string() })),
                }
            }
        });
        let act = Act {
            action: actions::REPLAY_DEAD_LETTERS,
            tenant: t.as_ref(),
            target: "*".into(),
        };
        let counts = (batch.replayed.len() - ok, batch.failed.len() - failed);
        audited(state, who, act, r, |()| {
            format!("{} replayed, {} failed", counts.0, counts.1)
        })
        .await?;
    }
    Ok(batch)
}

/// Discards one dead letter.
pub async fn discard_dead_letter(
    state: &AppState,
    who: &Principal,
    id: DeliveryId,
) -> Result<(), Problem> {
    let tenant = delivery_tenant(state, who, id).await.ok();
    let r = match &tenant {
        Some(_) => dlq::discard(state.store.as_ref(), id)
            .await
            .map_err(Problem::from),
        None => Err(Problem::not_found(format!("no delivery {id}"))),
    };
    let act = Act {
        action: actions::DISCARD_DEAD_LETTER,
        tenant: tenant.as_ref(),
        target: id.to_string(),
    };
    audited(state, who, act, r, |()| "discarded".into()).await
}

/// The tenant of an event the principal sees (`None` when it does not, or there is none).
async fn event_tenant(
    state: &AppState,
    who: &Principal,
    id: EventId,
) -> Result<Option<TenantId>, Problem> {
    Ok(match state.store.event(id).await? {
        Some(e) if who.sees(&e.tenant) => Some(e.tenant),
        _ => None,
    })
}

/// Replays one parked event.
pub async fn replay_event(
    state: &AppState,
    who: &Principal,
    id: EventId,
) -> Result<EventReplayed, Problem> {
    let store = state.store.as_ref();
    let tenant = event_tenant(state, who, id).await?;
    let r = match &tenant {
        Some(_) => events::replay(store, &state.intake, id, now())
            .await
            .map_err(Problem::from),
        None => Err(Problem::not_found(format!("no event {id}"))),
    };
    let act = Act {
        action: actions::REPLAY_EVENT,
        tenant: tenant.as_ref(),
        target: id.to_string(),
    };
    audited(state, who, act, r, replayed_detail).await
}

/// Discards one parked event.
pub async fn discard_event(state: &AppState, who: &Principal, id: EventId) -> Result<(), Problem> {
    let tenant = event_tenant(state, who, id).await?;
    let r = match &tenant {
        Some(_) => events::discard(state.store.as_ref(), id, now())
            .await
            .map_err(Problem::from),
        None => Err(Problem::not_found(format!("no event {id}"))),
    };
    let act = Act {
        action: actions::DISCARD_EVENT,
        tenant: tenant.as_ref(),
        target: id.to_string(),
    };
    audited(state, who, act, r, |()| "discarded".into()).await
}

fn replayed_detail(r: &EventReplayed) -> String {
    match &r.disposition.parked {
        Some(p) => format!("still parked: {}", p.detail),
        None => format!("{} call(s) planned", r.calls),
    }
}

/// Replays every parked event the principal sees (of `tenant`, when given).
pub async fn replay_parked(
    state: &AppState,
    who: &Principal,
    tenant: Option<TenantId>,
) -> Result<Batch<EventReplayed>, Problem> {
    let mut batch = Batch::default();
    for t in who.tenant_filters(tenant)? {
        let store = state.store.as_ref();
        let r = events::replay_parked(store, &state.intake, t.as_ref(), now())
            .await
            .map_err(Problem::from);
        let before = (
            batch.replayed.len(),
            batch.still_parked.len(),
            batch.failed.len(),
        );
        let r = r.map(|results| {
            for (id, r) in results {
                match r {
                    Ok(r) if r.disposition.parked.is_some() => batch.still_parked.push(r),
                    Ok(r) => batch.replayed.push(r),
                    Err(e) => batch
                        .failed
                        .push(serde_json::json!({ "id": id, "error": e.to_string() })),
                }
            }
        });
        let detail = format!(
            "{} replayed, {} still parked, {} failed",
            batch.replayed.len() - before.0,
            batch.still_parked.len() - before.1,
            batch.failed.len() - before.2
        );
        let act = Act {
            action: actions::REPLAY_PARKED,
            tenant: t.as_ref(),
            target: "*".into(),
        };
        audited(state, who, act, r, |()| detail).await?;
    }
    Ok(batch)
}

/// Links a ticket by hand.
pub async fn add_link(
    state: &AppState,
    who: &Principal,
    req: &LinkRequest,
) -> Result<Linked, Problem> {
    let tenant = TenantId::parse(req.tenant.as_str()).ok();
    let visible = tenant.as_ref().is_some_and(|t| who.sees(t));
    let r = if visible || tenant.is_none() {
        links::add(state.store.as_ref(), &state.tenants(), req, now())
            .await
            .map_err(Problem::from)
    } else {
        Err(Problem::forbidden(format!(
            "token {:?} does not see tenant {}",
            who.name, req.tenant
        )))
    };
    let act = Act {
        action: actions::LINK,
        tenant: tenant.as_ref().filter(|_| visible),
        target: format!("{} -> {}", req.ticket.trim(), req.orange_id.trim()),
    };
    audited(state, who, act, r, |l| {
        if l.added {
            format!(
                "linked to {} {}; {} waiting delivery(ies) due now",
                l.api, l.orange_id, l.woken
            )
        } else {
            "already so".into()
        }
    })
    .await
}

/// Reloads the mappings (every tenant's: only a token that sees them all may).
pub async fn reload(
    state: &AppState,
    who: &Principal,
) -> Result<(TenantReport, ReloadReport), Problem> {
    let r = match who.require_global("a reload") {
        Ok(()) => {
            let reloader = state.reloader.clone();
            // Reading and compiling files is blocking work.
            match tokio::task::spawn_blocking(move || reloader.reload_now()).await {
                Ok(r) => Ok(r),
                Err(_) => {
                    tracing::error!("reload panicked");
                    Err(Problem::internal())
                }
            }
        }
        Err(p) => Err(p),
    };
    let act = Act {
        action: actions::RELOAD,
        tenant: None,
        target: "*".into(),
    };
    audited(state, who, act, r, |(t, r)| {
        use crate::mapping::reload::ReloadResult as R;
        format!(
            "mappings: {} applied, {} unchanged, {} refused; tenant files: {} refused",
            r.count(R::Applied),
            r.count(R::Unchanged),
            r.count(R::Refused),
            t.refused.len()
        )
    })
    .await
}
