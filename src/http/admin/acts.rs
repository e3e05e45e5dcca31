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

impl<T> Batch<T> {
    /// Sorts one tenant's results in (those `parked` says are still parked apart from the
    /// replayed ones) and counts them: `[replayed, still parked, failed]`.
    fn add<I: Serialize, E: std::fmt::Display>(
        &mut self,
        results: Vec<(I, Result<T, E>)>,
        parked: impl Fn(&T) -> bool,
    ) -> [usize; 3] {
        let mut counts = [0; 3];
        for (id, r) in results {
            match r {
                Ok(r) if parked(&r) => {
                    counts[1] += 1;
                    self.still_parked.push(r);
                }
                Ok(r) => {
                    counts[0] += 1;
                    self.replayed.push(r);
                }
                Err(e) => {
                    counts[2] += 1;
                    let failed = serde_json::json!({ "id": id, "error": e.to_string() });
                    self.failed.push(failed);
                }
            }
        }
        counts
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

/// An action on one object named by id: `op` runs only when the principal sees the object
/// (`tenant` is known), else 404 `no {kind} {id}`, as if it did not exist; either way the
/// audit log gets `action` on the object with how it ended.
struct OnObject<'a> {
    action: &'static str,
    kind: &'static str,
    id: String,
    tenant: Option<&'a TenantId>,
}

impl OnObject<'_> {
    async fn run<T, E>(
        self,
        state: &AppState,
        who: &Principal,
        op: impl Future<Output = Result<T, E>>,
        detail: impl FnOnce(&T) -> String,
    ) -> Result<T, Problem>
    where
        Problem: From<E>,
    {
        let r = match self.tenant {
            Some(_) => op.await.map_err(Problem::from),
            None => Err(Problem::not_found(format!("no {} {}", self.kind, self.id))),
        };
        let act = Act {
            action: self.action,
            tenant: self.tenant,
            target: self.id,
        };
        audited(state, who, act, r, detail).await
    }
}

/// Replays one dead letter.
pub async fn replay_dead_letter(
    state: &AppState,
    who: &Principal,
    id: DeliveryId,
) -> Result<Replayed, Problem> {
    let tenant = delivery_tenant(state, who, id).await.ok();
    let tenants = state.tenants();
    let op = dlq::replay(
        state.store.as_ref(),
        &state.mappings,
        &tenants.tenants,
        id,
        now(),
    );
    let on = OnObject {
        action: actions::REPLAY_DEAD_LETTER,
        kind: "delivery",
        id: id.to_string(),
        tenant: tenant.as_ref(),
    };
    on.run(state, who, op, |r| {
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
    let (store, mappings) = (state.store.as_ref(), &state.mappings);
    let in_force = state.tenants();
    let tenants = &in_force.tenants;
    let replay = |t: Option<TenantId>| async move {
        dlq::replay_all(store, mappings, tenants, t.as_ref(), now()).await
    };
    let detail =
        |[replayed, _, failed]: &[usize; 3]| format!("{replayed} replayed, {failed} failed");
    let action = actions::REPLAY_DEAD_LETTERS;
    per_tenant(state, who, tenant, action, replay, |_| false, detail).await
}

/// Runs `replay` for each tenant the principal sees (only `tenant`, when given), sorting
/// what it did into a [`Batch`] (`parked`: still parked after it), and records `action` for
/// each tenant in the audit log with the counts in words (`detail`). A tenant whose replay
/// fails as a whole ends the batch with that failure.
async fn per_tenant<T, I, E, F>(
    state: &AppState,
    who: &Principal,
    tenant: Option<TenantId>,
    action: &'static str,
    mut replay: impl FnMut(Option<TenantId>) -> F,
    parked: impl Fn(&T) -> bool,
    detail: impl Fn(&[usize; 3]) -> String,
) -> Result<Batch<T>, Problem>
where
    F: Future<Output = Result<Vec<(I, Result<T, E>)>, E>>,
    I: Serialize,
    E: std::fmt::Display,
    Problem: From<E>,
{
    let mut batch = Batch::default();
    for t in who.tenant_filters(tenant)? {
        let r = replay(t.clone())
            .await
            .map_err(Problem::from)
            .map(|results| batch.add(results, &parked));
        let act = Act {
            action,
            tenant: t.as_ref(),
            target: "*".into(),
        };
        audited(state, who, act, r, &detail).await?;
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
    let on = OnObject {
        action: actions::DISCARD_DEAD_LETTER,
        kind: "delivery",
        id: id.to_string(),
        tenant: tenant.as_ref(),
    };
    let op = dlq::discard(state.store.as_ref(), id);
    on.run(state, who, op, |()| "discarded".into()).await
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
    let tenant = event_tenant(state, who, id).await?;
    let on = OnObject {
        action: actions::REPLAY_EVENT,
        kind: "event",
        id: id.to_string(),
        tenant: tenant.as_ref(),
    };
    let op = events::replay(state.store.as_ref(), &state.intake, id, now());
    on.run(state, who, op, replayed_detail).await
}

/// Discards one parked event.
pub async fn discard_event(state: &AppState, who: &Principal, id: EventId) -> Result<(), Problem> {
    let tenant = event_tenant(state, who, id).await?;
    let on = OnObject {
        action: actions::DISCARD_EVENT,
        kind: "event",
        id: id.to_string(),
        tenant: tenant.as_ref(),
    };
    let op = events::discard(state.store.as_ref(), id, now());
    on.run(state, who, op, |()| "discarded".into()).await
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
    let (store, intake) = (state.store.as_ref(), &state.intake);
    let replay = |t: Option<TenantId>| async move {
        events::replay_parked(store, intake, t.as_ref(), now()).await
    };
    let parked = |r: &EventReplayed| r.disposition.parked.is_some();
    let detail = |[replayed, parked, failed]: &[usize; 3]| {
        format!("{replayed} replayed, {parked} still parked, {failed} failed")
    };
    per_tenant(
        state,
        who,
        tenant,
        actions::REPLAY_PARKED,
        replay,
        parked,
        detail,
    )
    .await
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
