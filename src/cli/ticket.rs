//! `ticket show TENANT TICKET [--output text|json]`: a ticket's whole story (see
//! `ops::timeline`), as an aligned timeline on a terminal or the admin API's JSON for scripts.
//! An unknown tenant or ticket, or a name that fits several tickets, exits 1 with a message
//! (and the candidates) on stderr.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::app::App;
use crate::config::Config;
use crate::domain::{SourceName, TenantId, Timestamp};
use crate::ops::timeline::{self, Timeline, TimelineError};

/// How `ticket show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

impl From<super::args::TicketFormat> for Output {
    fn from(f: super::args::TicketFormat) -> Self {
        match f {
            super::args::TicketFormat::Text => Self::Text,
            super::args::TicketFormat::Json => Self::Json,
        }
    }
}

pub async fn ticket_show(
    config: &Config,
    tenant: &str,
    name: &str,
    output: Output,
    limit: u32,
) -> anyhow::Result<ExitCode> {
    let Some(t) = config.tenants.iter().find(|t| t.id.as_str() == tenant) else {
        eprintln!("error: {}", TimelineError::UnknownTenant(tenant.to_owned()));
        return Ok(ExitCode::FAILURE);
    };
    let sources: Vec<SourceName> = t.sources.keys().cloned().collect();
    let tenant: TenantId = t.id.clone();
    let app = App::build(config.clone()).await?;
    match timeline::show(app.store.as_ref(), &tenant, &sources, name, limit).await {
        Ok(t) => {
            match output {
                Output::Json => crate::outln!("{}", serde_json::to_string_pretty(&t)?),
                Output::Text => super::out::text(&render(&t)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ TimelineError::Ambiguous { .. }) => {
            eprintln!("error: {e}");
            if let TimelineError::Ambiguous { candidates, .. } = &e {
                for c in candidates {
                    eprintln!(
                        "  {}  number {}  orange {}",
                        c.ticket,
                        if c.numbers.is_empty() {
                            "-".to_owned()
                        } else {
                            c.numbers.join(", ")
                        },
                        c.orange_id.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e @ (TimelineError::NotFound { .. } | TimelineError::UnknownTenant(_))) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
        Err(TimelineError::Store(e)) => Err(e.into()),
    }
}

/// `2026-12-07 07:01:02.123` (UTC).
fn when(t: Timestamp) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let f = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
    );
    t.format(&f).unwrap_or_default()
}

/// The timeline as aligned text: a header, then one line per step (time, kind, what).
pub fn render(t: &Timeline) -> String {
    let mut out = String::new();
    let numbers = if t.numbers.is_empty() {
        String::new()
    } else {
        format!("  ({})", t.numbers.join(", "))
    };
    let _ = writeln!(out, "ticket   {}{numbers}", t.ticket);
    match &t.link {
        Some(l) => {
            let _ = writeln!(
                out,
                "orange   {} {}  (linked {} UTC)",
                l.api.as_str(),
                l.orange_id,
                when(l.created_at)
            );
        }
        None => {
            let _ = writeln!(out, "orange   not linked");
        }
    }
    if let Some(s) = &t.remote_state {
        let _ = writeln!(
            out,
            "polled   status {}, {} note(s) seen",
            s.status.as_deref().unwrap_or("-"),
            s.seen_notes.len()
        );
    }
    if t.truncated {
        let _ = writeln!(out, "(older steps not shown; raise --limit)");
    }
    let _ = writeln!(out);
    for e in &t.entries {
        let _ = writeln!(out, "{}  {:<10}  {}", when(e.at), e.step.label(), e.summary);
    }
    out
}
