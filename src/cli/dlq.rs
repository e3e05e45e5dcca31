//! `dlq list / show / replay / discard`.

use std::process::ExitCode;

use crate::config::Config;

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

pub async fn dlq(config: &Config, action: DlqAction) -> anyhow::Result<ExitCode> {
    let _ = (config, action);
    anyhow::bail!("`dlq` arrives with the delivery issue")
}
