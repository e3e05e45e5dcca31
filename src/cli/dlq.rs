//! `dlq list / show / replay / replay --all / discard`: prints JSON lines (one dead letter,
//! one attempt or one replay result per line) so the output pipes into `jq`.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::args::tenant;
use super::out::json_line as line;
use crate::app::App;
use crate::config::Config;
use crate::domain::DeliveryId;
use crate::ops::dlq;

pub enum DlqAction {
    List {
        tenant: Option<String>,
        limit: u32,
    },
    Show {
        id: i64,
    },
    /// `id: None` replays all (of `tenant`, when given).
    Replay {
        id: Option<i64>,
        tenant: Option<String>,
    },
    Discard {
        id: i64,
    },
}

impl From<super::args::DlqArgs> for DlqAction {
    fn from(args: super::args::DlqArgs) -> Self {
        use super::args::DlqArgs as A;
        match args {
            A::List { tenant, limit } => Self::List { tenant, limit },
            A::Show { id } => Self::Show { id },
            A::Replay { id, all: _, tenant } => Self::Replay { id, tenant },
            A::Discard { id } => Self::Discard { id },
        }
    }
}

pub async fn dlq(config: &Config, action: DlqAction) -> anyhow::Result<ExitCode> {
    let app = App::build(config.clone()).await?;
    let store = app.store.as_ref();
    let now = time::OffsetDateTime::now_utc();
    match action {
        DlqAction::List { tenant: t, limit } => {
            let t = tenant(t)?;
            for d in dlq::list(store, t.as_ref(), limit).await? {
                line(json!(d));
            }
        }
        DlqAction::Show { id } => {
            let letter = dlq::show(store, DeliveryId(id))
                .await
                .with_context(|| format!("dlq show {id}"))?;
            line(json!({ "delivery": letter.delivery }));
            for a in letter.attempts {
                line(json!({ "attempt": a }));
            }
        }
        DlqAction::Replay { id: Some(id), .. } => {
            let r = dlq::replay(
                store,
                &app.mappings,
                &app.config.tenants,
                DeliveryId(id),
                now,
            )
            .await
            .with_context(|| format!("dlq replay {id}"))?;
            line(json!(r));
        }
        DlqAction::Replay {
            id: None,
            tenant: t,
        } => {
            let t = tenant(t)?;
            let results =
                dlq::replay_all(store, &app.mappings, &app.config.tenants, t.as_ref(), now).await?;
            let mut failed = 0;
            for (id, r) in results {
                match r {
                    Ok(r) => line(json!(r)),
                    Err(e) => {
                        failed += 1;
                        line(json!({ "id": id, "error": e.to_string() }));
                    }
                }
            }
            if failed > 0 {
                eprintln!("{failed} dead letter(s) could not be replayed");
                return Ok(ExitCode::FAILURE);
            }
        }
        DlqAction::Discard { id } => {
            dlq::discard(store, DeliveryId(id))
                .await
                .with_context(|| format!("dlq discard {id}"))?;
            line(json!({ "id": id, "discarded": true }));
        }
    }
    Ok(ExitCode::SUCCESS)
}
