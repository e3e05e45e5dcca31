//! `links add TENANT TICKET ORANGE_ID` and `links waiting`: link a ticket by hand (its waiting
//! deliveries proceed; its `no-link` dead letters can then be replayed with `dlq replay`) and
//! list the deliveries waiting for a link. JSON lines out, so the output pipes into `jq`.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::app::App;
use crate::config::Config;
use crate::domain::TenantId;
use crate::ops::links::{self, LinkRequest};

pub enum LinksAction {
    Add(LinkRequest),
    Waiting { tenant: Option<String>, limit: u32 },
}

impl From<super::args::LinksCommand> for LinksAction {
    fn from(args: super::args::LinksCommand) -> Self {
        use super::args::LinksCommand as A;
        match args {
            A::Add {
                tenant,
                ticket,
                orange_id,
                api,
                source,
            } => Self::Add(LinkRequest {
                tenant,
                ticket,
                orange_id,
                api,
                source,
            }),
            A::Waiting { tenant, limit } => Self::Waiting { tenant, limit },
        }
    }
}

pub async fn links(config: &Config, action: LinksAction) -> anyhow::Result<ExitCode> {
    let app = App::build(config.clone()).await?;
    let store = app.store.as_ref();
    match action {
        LinksAction::Add(req) => {
            let now = time::OffsetDateTime::now_utc();
            let linked = links::add(store, &app.config, &req, now)
                .await
                .with_context(|| {
                    format!("links add {} {} {}", req.tenant, req.ticket, req.orange_id)
                })?;
            crate::outln!("{}", json!(linked));
        }
        LinksAction::Waiting { tenant, limit } => {
            let tenant = tenant
                .map(TenantId::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
            for d in links::waiting(store, tenant.as_ref(), limit).await? {
                crate::outln!("{}", json!(d));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
