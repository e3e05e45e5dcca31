//! `purge [--dry-run]`: one retention pass now, with the config's `retention:` rules; prints
//! what went (or, with `--dry-run`, what would go) per table as one JSON line.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use crate::config::Config;
use crate::store::PurgeCursor;
use crate::worker::retention;

/// Pause between two steps: a gateway running on the same database keeps writing between them.
const PAUSE: Duration = Duration::from_millis(5);

pub async fn purge(config: &Config, dry_run: bool) -> anyhow::Result<ExitCode> {
    crate::telemetry::prometheus();
    let store = crate::app::open_store(config).await?;
    store.migrate().await?;
    let now = time::OffsetDateTime::now_utc();
    let rules = retention::rules(&config.retention, now);
    let (counts, _) =
        retention::pass(&*store, &rules, PurgeCursor::default(), dry_run, PAUSE).await?;
    let at = |t: Option<time::OffsetDateTime>| {
        t.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
    };
    crate::outln!(
        "{}",
        json!({
            "dry_run": dry_run,
            if dry_run { "would_purge" } else { "purged" }: counts,
            "done_before": at(rules.done_before),
            "skipped_before": at(rules.skipped_before),
            "dead_before": at(rules.dead_before),
        })
    );
    Ok(ExitCode::SUCCESS)
}
