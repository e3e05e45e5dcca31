//! `orange incidents list / get / notes`.

use std::process::ExitCode;

use crate::config::Config;

pub enum IncidentAction {
    List {
        filters: Vec<String>,
        sort: Option<String>,
        offset: Option<u32>,
        limit: Option<u32>,
        all: bool,
    },
    Get {
        id: String,
    },
    Notes {
        id: String,
    },
}

pub async fn orange_incidents(
    config: &Config,
    tenant: Option<&str>,
    action: IncidentAction,
) -> anyhow::Result<ExitCode> {
    let _ = (config, tenant, action);
    anyhow::bail!("`orange` arrives with the delivery issue")
}
