//! The `itsm-bridge` command tree, parsed by clap; `main.rs` parses it and calls the command.
//! `--config` is global: accepted before or after any subcommand (`dlq list --config F`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use clap_complete::Shell;

use super::orange::{OrangeCommand, OrangeGlobals};
use crate::domain::TenantId;

/// A `--tenant` filter, parsed.
pub(super) fn tenant(t: Option<String>) -> anyhow::Result<Option<TenantId>> {
    t.map(TenantId::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--tenant: {e}"))
}

/// `--version`: the crate version and the git revision it was built from (`build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("ITSM_BRIDGE_GIT_REVISION"),
    ")"
);

/// Gateway between a customer's ITSM (ServiceNow, Jira) and Orange Business's APIs.
///
/// Webhooks come in from the ITSM, declarative per-customer mappings turn them into Orange
/// API calls, delivered rate-limited and retried without loss or duplicates; Orange's status
/// changes and notes are polled back and pushed into the ITSM.
#[derive(Parser)]
#[command(name = "itsm-bridge", version = VERSION, max_term_width = 100)]
pub struct Cli {
    /// Config file (YAML), before or after the subcommand. Without it, the embedded defaults:
    /// SQLite under ./data/, the mappings in ./mappings/, a `demo` tenant with the sandbox
    /// secrets of the README.
    #[arg(long, global = true, env = "ITSM_BRIDGE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway: webhook intake, delivery to Orange, poll-back into the ITSMs.
    Serve {
        /// Address to listen on [default: the config's `listen`, 0.0.0.0:8080]
        #[arg(long, env = "ITSM_BRIDGE_LISTEN", value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Also start the simulators in-process and point the Orange and ITSM clients at
        /// them, with their sandbox credentials: the whole loop with no real credentials.
        #[arg(long)]
        sandbox: bool,
        /// Where the in-process simulators listen (with --sandbox).
        #[arg(long, default_value = "127.0.0.1:8081", value_name = "ADDR")]
        sim_listen: SocketAddr,
    },
    /// Validate the config and every mapping, and run every mapping's golden cases. Prints
    /// all problems at once, with file and place; exits 1 if there is any.
    Check,
    /// Dry run of one mapping on one event: prints, as JSON, the Orange calls it produces,
    /// or the reason it produces none.
    Map {
        /// The mapping file.
        #[arg(long, value_name = "FILE")]
        mapping: PathBuf,
        /// The event body (JSON) as the ITSM sends it.
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
        /// Source kind of the event: servicenow, jira or generic [default: from the mapping]
        #[arg(long)]
        source: Option<String>,
        /// A request header, as 'Name: value' (repeatable).
        #[arg(long = "header", value_name = "'K: V'")]
        headers: Vec<String>,
    },
    /// Run the simulators standalone: the four Orange APIs + OAuth, a ServiceNow Table API
    /// and a Jira REST API, with fault injection. Accepts client id `sandbox`, secret
    /// `sandbox-secret`, API key `sandbox-api-key`, and ServiceNow/Jira Basic `sandbox:sandbox`.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081", value_name = "ADDR")]
        listen: SocketAddr,
        /// Share of Orange calls answered with an injected fault (429, 500, 503, timeout,
        /// dropped connection), 0.0 to 1.0.
        #[arg(long, default_value_t = 0.0, value_name = "F")]
        fault_rate: f64,
        /// Latency added to every response, in milliseconds.
        #[arg(long, default_value_t = 0, value_name = "N")]
        latency_ms: u64,
        /// Requests per second allowed per Orange credential (429 code 53 beyond).
        #[arg(long, value_name = "N")]
        rate_limit: Option<u32>,
        /// Switch an inferred Orange or ITSM behaviour to an alternative, as KEY=VALUE
        /// (repeatable), e.g. unknown_filters=ignore, sort_fields=reject, jira_site=cloud,
        /// servicenow_rights=read_only.
        /// `GET /_sim/inferred` lists every switch and its allowed values;
        /// docs/orange-assumptions.md explains them.
        #[arg(long = "inferred", value_name = "KEY=VALUE")]
        inferred: Vec<String>,
    },
    /// Check, with read-only calls and each tenant's credentials, that the configured Orange
    /// and ITSM endpoints work and behave as assumed (docs/orange-assumptions.md): the token,
    /// the API key and each API's status, the list filters and sorts the gateway relies on,
    /// the ITSM user's rights (ServiceNow roles and tables, Jira permissions and the way back's
    /// transitions). One row per check with the setting to change; exits 1 when a
    /// check the config relies on fails. Never creates, updates or deletes anything.
    Doctor {
        /// Only this tenant [default: every tenant]
        #[arg(long)]
        tenant: Option<String>,
        /// Output format: text or json.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        output: String,
    },
    /// Ask a running gateway whether it is ready (GET /readyz): exit 0 when it is, 1 with the
    /// reason otherwise. For the image's HEALTHCHECK and Kubernetes exec probes, where there
    /// is no shell or curl.
    Healthcheck {
        /// The readiness URL.
        #[arg(long, env = "ITSM_BRIDGE_HEALTHCHECK_URL", default_value = crate::cli::HEALTHCHECK_URL, value_name = "URL")]
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3, value_name = "N")]
        timeout_secs: u64,
    },
    /// Apply store migrations (serve also does it at start).
    Migrate,
    /// Operate dead letters: deliveries that failed permanently or ran out of attempts.
    Dlq {
        #[command(subcommand)]
        action: DlqArgs,
    },
    /// List events (parked, unrouted, discarded), replay parked events with the current
    /// mapping, or discard them.
    Events {
        #[command(subcommand)]
        action: EventsArgs,
    },
    /// Link a ticket to its Orange object by hand (a ticket that predates the gateway, or
    /// whose create failed), and list the deliveries waiting for a link.
    Links {
        #[command(subcommand)]
        action: LinksCommand,
    },
    /// Delete events, deliveries and attempts past retention (`retention:` in the config) now,
    /// in short steps; prints what went per table. Links are never purged.
    Purge {
        /// Count what would go, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A ticket's whole story: events, routes, calls, attempts, link, poll-back, write-backs.
    Ticket {
        #[command(subcommand)]
        action: TicketAction,
    },
    /// The sandbox's shipped examples, hop by hop: posts each demo event and shows what
    /// happened (accepted, mapped, called, linked, changed at Orange, written back). Uses a
    /// running `serve --sandbox`, or starts one in-process when none answers.
    Tour {
        /// The gateway of a running `serve --sandbox`.
        #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
        gateway: url::Url,
        /// Its simulators.
        #[arg(long, default_value = "http://127.0.0.1:8081", value_name = "URL")]
        sim: url::Url,
    },
    /// A scriptable client of the four Orange APIs (Incident, Wholesale Trouble Tickets,
    /// Core Information, Ordering) with a tenant's credentials, through the gateway's own
    /// token source and rate limiter. A config whose tenants have Orange credentials and no
    /// webhook source is enough. Prints a table on a terminal, one JSON object per line
    /// otherwise (or with --output json). Exit codes: 0 done; 1 the call failed (Orange's
    /// status, code and message are shown, or why Orange could not be reached); 2 usage or
    /// config error.
    Orange {
        #[command(flatten)]
        globals: OrangeGlobals,
        #[command(subcommand)]
        api: OrangeCommand,
    },
    /// Print a shell completion script, e.g. `itsm-bridge completions bash >
    /// /etc/bash_completion.d/itsm-bridge`; zsh: `… zsh > "${fpath[1]}/_itsm-bridge"`; fish:
    /// `… fish > ~/.config/fish/completions/itsm-bridge.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Subcommand)]
pub enum LinksCommand {
    /// Link TICKET (the ITSM's id of it, as in its deliveries) of TENANT to ORANGE_ID: the
    /// deliveries waiting for it proceed at once; replay its no-link dead letters with
    /// `dlq replay`. Refused when the ticket or the object is linked to another one.
    Add {
        tenant: String,
        ticket: String,
        orange_id: String,
        /// The Orange API of the object: incident, trouble_ticket or ordering [default: that
        /// of the ticket's waiting calls, else incident]
        #[arg(long)]
        api: Option<String>,
        /// The source of the ticket, when the tenant has several and it is ambiguous.
        #[arg(long)]
        source: Option<String>,
    },
    /// List the deliveries waiting for their ticket's link, oldest first.
    Waiting {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Subcommand)]
pub enum DlqArgs {
    /// List dead letters, newest first.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one dead letter with its full attempt history.
    Show { id: i64 },
    /// Put dead letters back in their queue, re-rendered with the current mapping.
    Replay {
        /// The dead letter to replay.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Replay every dead letter (of --tenant, when given).
        #[arg(long)]
        all: bool,
        /// With --all: only this tenant's dead letters.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Drop a dead letter for good.
    Discard { id: i64 },
}

#[derive(Subcommand)]
pub enum EventsArgs {
    /// List events, newest first, as JSON lines.
    List {
        /// Only parked events: those the mapping could not handle, waiting for a replay.
        #[arg(long, conflicts_with_all = ["unrouted", "discarded"])]
        parked: bool,
        /// Only events that matched no route.
        #[arg(long, conflicts_with = "discarded")]
        unrouted: bool,
        /// Only parked events an operator discarded (kept until retention purges them).
        #[arg(long)]
        discarded: bool,
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Only events of this type (as the mapping saw it, e.g. `insert`).
        #[arg(long, value_name = "TYPE")]
        event_type: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Replay parked events with the current mapping: an event that maps now gets its
    /// deliveries (once); one that still fails stays parked with the new reason (exit 1).
    Replay {
        /// The parked event to replay.
        #[arg(required_unless_present = "parked", conflicts_with = "parked")]
        id: Option<String>,
        /// Replay every parked event, oldest first (of --tenant, when given).
        #[arg(long)]
        parked: bool,
        /// With --parked: only this tenant's events.
        #[arg(long, requires = "parked")]
        tenant: Option<String>,
    },
    /// Discard parked events that no mapping fix will serve: they are no longer parked nor
    /// replayable, and retention purges them as done (`retention.done`). Exit 1 when one
    /// is unknown or not parked (the others are still discarded).
    Discard {
        /// The parked events to discard.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum TicketAction {
    /// Show a ticket's timeline, oldest first. TICKET is its ITSM number or key
    /// (INC0012345, OPS-1287), its ITSM id (sys_id, Jira issue id), its Orange id
    /// (2611M00001) or its full key (tenant/source/id). Exits 1 when the tenant or ticket is
    /// unknown, or when the name fits several tickets (they are listed).
    Show {
        tenant: String,
        ticket: String,
        /// `text`: an aligned timeline; `json`: the admin API's document, for scripts.
        #[arg(long, value_enum, default_value_t = TicketFormat::Text)]
        output: TicketFormat,
        /// At most this many events, calls and observations (the latest).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=5000))]
        limit: u32,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TicketFormat {
    Text,
    Json,
}
