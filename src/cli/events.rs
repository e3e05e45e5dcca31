//! `events list [--parked | --unrouted] [--tenant T] [--event-type E]` and
//! `events replay ID` / `events replay --parked [--tenant T]` / `events discard ID..`: prints
//! JSON lines (one event, replay or discard result per line) so the output pipes into `jq`. Replays use the mapping files
//! as they are now, through the same intake step as the gateway (`ops::events`).

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::args::tenant;
use super::out::json_line as line;
use crate::app::App;
use crate::config::Config;
use crate::domain::EventId;
use crate::intake::Intake;
use crate::ops::events;
use crate::store::{EventQuery, EventState};

pub enum EventsAction {
    List {
        tenant: Option<String>,
        /// Only parked (`Some(Parked)`), unrouted or discarded events.
        state: Option<EventState>,
        event_type: Option<String>,
        limit: u32,
    },
    /// `id: None` replays every parked event (of `tenant`, when given).
    Replay {
        id: Option<String>,
        tenant: Option<String>,
    },
    /// Discards these parked events.
    Discard { ids: Vec<String> },
}

impl From<super::args::EventsArgs> for EventsAction {
    fn from(args: super::args::EventsArgs) -> Self {
        use super::args::EventsArgs as A;
        match args {
            A::List {
                parked,
                unrouted,
                discarded,
                tenant,
                event_type,
                limit,
            } => Self::List {
                tenant,
                state: if parked {
                    Some(EventState::Parked)
                } else if unrouted {
                    Some(EventState::Unrouted)
                } else if discarded {
                    Some(EventState::Discarded)
                } else {
                    None
                },
                event_type,
                limit,
            },
            A::Replay {
                id,
                parked: _,
                tenant,
            } => Self::Replay { id, tenant },
            A::Discard { ids } => Self::Discard { ids },
        }
    }
}

pub async fn events(config: &Config, action: EventsAction) -> anyhow::Result<ExitCode> {
    let app = App::build(config.clone()).await?;
    let store = app.store.as_ref();
    let intake = Intake::new(app.store.clone(), app.mappings.clone(), u64::MAX);
    let now = time::OffsetDateTime::now_utc();
    match action {
        EventsAction::List {
            tenant: t,
            state,
            event_type,
            limit,
        } => {
            let q = EventQuery {
                tenant: tenant(t)?,
                limit,
                state,
                event_type,
                ..EventQuery::default()
            };
            for e in events::list(store, &q).await? {
                line(json!(e));
            }
        }
        EventsAction::Replay { id: Some(id), .. } => {
            let parsed =
                EventId::parse(&id).map_err(|e| anyhow::anyhow!("event id {id:?}: {e}"))?;
            let r = events::replay(store, &intake, parsed, now)
                .await
                .with_context(|| format!("events replay {id}"))?;
            let parked = r.disposition.parked.is_some();
            line(json!(r));
            if parked {
                eprintln!("event {id} is still parked: the current mapping cannot handle it");
                return Ok(ExitCode::FAILURE);
            }
        }
        EventsAction::Replay {
            id: None,
            tenant: t,
        } => {
            let t = tenant(t)?;
            let results = events::replay_parked(store, &intake, t.as_ref(), now).await?;
            let (mut parked, mut failed) = (0, 0);
            for (id, r) in results {
                match r {
                    Ok(r) => {
                        parked += usize::from(r.disposition.parked.is_some());
                        line(json!(r));
                    }
                    Err(e) => {
                        failed += 1;
                        line(json!({ "id": id, "error": e.to_string() }));
                    }
                }
            }
            if parked + failed > 0 {
                eprintln!("{parked} event(s) still parked, {failed} could not be replayed");
                return Ok(ExitCode::FAILURE);
            }
        }
        EventsAction::Discard { ids } => {
            let mut failed = 0;
            for id in ids {
                let r = match EventId::parse(&id) {
                    Ok(parsed) => events::discard(store, parsed, now)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(format!("event id {id:?}: {e}")),
                };
                match r {
                    Ok(()) => line(json!({ "id": id, "discarded": true })),
                    Err(e) => {
                        failed += 1;
                        line(json!({ "id": id, "error": e }));
                    }
                }
            }
            if failed > 0 {
                eprintln!("{failed} event(s) could not be discarded");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
