//! The `itsm-bridge` command line: parse, load config, call the library. Nothing else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use itsm_bridge::config::Config;

/// mimalloc instead of glibc's allocator: the hot paths (JSON bodies, HTTP buffers, SQL
/// parameters) allocate small, short-lived objects from many threads, where glibc's
/// arenas spent about a fifth of the delivery benchmark's CPU (`benches/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gateway between a customer's ITSM (ServiceNow, Jira) and Orange Business's APIs.
///
/// Webhooks come in from the ITSM, declarative per-customer mappings turn them into Orange
/// API calls, delivered rate-limited and retried without loss or duplicates; Orange's status
/// changes and notes are polled back and pushed into the ITSM.
#[derive(Parser)]
#[command(name = "itsm-bridge", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ConfigArg {
    /// Config file (YAML). Without it, the embedded defaults: SQLite under ./data/, the
    /// mappings in ./mappings/, a `demo` tenant with the sandbox secrets of the README.
    #[arg(long, env = "ITSM_BRIDGE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: webhook intake, delivery to Orange, poll-back into the ITSMs.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
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
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
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
        /// Switch an inferred Orange behaviour to an alternative, as KEY=VALUE (repeatable),
        /// e.g. unknown_filters=ignore, sort_fields=reject, range_filters=ignore.
        /// `GET /_sim/inferred` lists every switch and its allowed values;
        /// docs/orange-assumptions.md explains them.
        #[arg(long = "inferred", value_name = "KEY=VALUE")]
        inferred: Vec<String>,
    },
    /// Check, with read-only calls and each tenant's credentials, that the configured Orange
    /// and ITSM endpoints work and behave as assumed (docs/orange-assumptions.md): the token,
    /// the API key and each API's status, the list filters and sorts the gateway relies on,
    /// the ITSM user's access. One row per check with the setting to change; exits 1 when a
    /// check the config relies on fails. Never creates, updates or deletes anything.
    Doctor {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this tenant [default: every tenant]
        #[arg(long)]
        tenant: Option<String>,
        /// Output format: text or json.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        output: String,
    },
    /// Apply store migrations (serve also does it at start).
    Migrate {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Operate dead letters: deliveries that failed permanently or ran out of attempts.
    Dlq {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        action: DlqAction,
    },
    /// List events (parked, unrouted) and replay parked events with the current mapping.
    Events {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Link a ticket to its Orange object by hand (a ticket that predates the gateway, or
    /// whose create failed), and list the deliveries waiting for a link.
    Links {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        action: LinksCommand,
    },
    /// Delete events, deliveries and attempts past retention (`retention:` in the config) now,
    /// in short steps; prints what went per table. Links are never purged.
    Purge {
        #[command(flatten)]
        config: ConfigArg,
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
    /// A command-line client for the Orange APIs, with a tenant's credentials.
    Orange {
        #[command(flatten)]
        config: ConfigArg,
        /// The tenant whose credentials are used [default: the only tenant]
        #[arg(long)]
        tenant: Option<String>,
        #[command(subcommand)]
        api: OrangeCommand,
    },
}

#[derive(Subcommand)]
enum LinksCommand {
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
enum DlqAction {
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
enum EventsAction {
    /// List events, newest first, as JSON lines.
    List {
        /// Only parked events: those the mapping could not handle, waiting for a replay.
        #[arg(long, conflicts_with = "unrouted")]
        parked: bool,
        /// Only events that matched no route.
        #[arg(long)]
        unrouted: bool,
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
}

#[derive(Subcommand)]
enum TicketAction {
    /// Show a ticket's timeline, oldest first. TICKET is its ITSM number or key
    /// (INC0012345, OPS-1287), its ITSM id (sys_id, Jira issue id), its Orange id
    /// (2611M00001) or its full key (tenant/source/id). Exits 1 when the tenant or ticket is
    /// unknown, or when the name fits several tickets (they are listed).
    Show {
        #[command(flatten)]
        config: ConfigArg,
        tenant: String,
        ticket: String,
        /// `text`: an aligned timeline; `json`: the admin API's document, for scripts.
        #[arg(long, value_enum, default_value_t = TicketOutput::Text)]
        output: TicketOutput,
        /// At most this many events, calls and observations (the latest).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=5000))]
        limit: u32,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TicketOutput {
    Text,
    Json,
}

#[derive(Subcommand)]
enum OrangeCommand {
    /// Incident API.
    Incidents {
        #[command(subcommand)]
        action: IncidentAction,
    },
}

#[derive(Subcommand)]
enum IncidentAction {
    /// List incidents: filters, sort and paging as the Postman guide shows.
    List {
        /// Equality filter on a dotted path, as 'path=value' (repeatable), e.g.
        /// location.address.country=FR, priority=P1.
        #[arg(long = "filter", value_name = "PATH=VALUE")]
        filters: Vec<String>,
        /// Comma-separated fields; a leading '-' sorts descending (e.g. -createdAt).
        #[arg(long)]
        sort: Option<String>,
        /// Index of the first incident (0-based).
        #[arg(long)]
        offset: Option<u32>,
        /// At most this many incidents.
        #[arg(long)]
        limit: Option<u32>,
        /// Follow pages until the end (uses --limit as the page size).
        #[arg(long)]
        all: bool,
    },
    /// Get one incident.
    Get { id: String },
    /// List the notes of an incident.
    Notes { id: String },
}

fn load_config(arg: &ConfigArg) -> anyhow::Result<Config> {
    match &arg.config {
        Some(path) => Config::load(path).map_err(|e| anyhow::anyhow!("{e}")),
        None => Ok(Config::embedded_default()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    use itsm_bridge::cli;
    match cli.command {
        Command::Serve {
            config,
            listen,
            sandbox,
            sim_listen,
        } => {
            let mut config = load_config(&config)?;
            if let Some(l) = listen {
                config.listen = l;
            }
            itsm_bridge::telemetry::init(&config.log, &config.telemetry);
            cli::serve(config, sandbox.then_some(sim_listen)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => {
            let config = match load_config(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            Ok(cli::check(&config))
        }
        Command::Map {
            mapping,
            event,
            source,
            headers,
        } => Ok(cli::map(&mapping, &event, source.as_deref(), &headers)),
        Command::Sim {
            listen,
            fault_rate,
            latency_ms,
            rate_limit,
            inferred,
        } => {
            itsm_bridge::telemetry::init_logging(&Default::default());
            cli::sim(listen, fault_rate, latency_ms, rate_limit, &inferred).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor {
            config,
            tenant,
            output,
        } => {
            let config = load_config(&config)?;
            cli::doctor(&config, tenant.as_deref(), output == "json").await
        }
        Command::Migrate { config } => {
            let config = load_config(&config)?;
            cli::migrate(&config).await.context("migration failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq { config, action } => {
            let config = load_config(&config)?;
            let action = match action {
                DlqAction::List { tenant, limit } => cli::DlqAction::List { tenant, limit },
                DlqAction::Show { id } => cli::DlqAction::Show { id },
                DlqAction::Replay { id, all: _, tenant } => cli::DlqAction::Replay { id, tenant },
                DlqAction::Discard { id } => cli::DlqAction::Discard { id },
            };
            cli::dlq(&config, action).await
        }
        Command::Events { config, action } => {
            let config = load_config(&config)?;
            let action = match action {
                EventsAction::List {
                    parked,
                    unrouted,
                    tenant,
                    event_type,
                    limit,
                } => cli::EventsAction::List {
                    tenant,
                    state: if parked {
                        Some(itsm_bridge::store::EventState::Parked)
                    } else if unrouted {
                        Some(itsm_bridge::store::EventState::Unrouted)
                    } else {
                        None
                    },
                    event_type,
                    limit,
                },
                EventsAction::Replay {
                    id,
                    parked: _,
                    tenant,
                } => cli::EventsAction::Replay { id, tenant },
            };
            cli::events(&config, action).await
        }
        Command::Links { config, action } => {
            let config = load_config(&config)?;
            let action = match action {
                LinksCommand::Add {
                    tenant,
                    ticket,
                    orange_id,
                    api,
                    source,
                } => cli::LinksAction::Add(itsm_bridge::ops::links::LinkRequest {
                    tenant,
                    ticket,
                    orange_id,
                    api,
                    source,
                }),
                LinksCommand::Waiting { tenant, limit } => {
                    cli::LinksAction::Waiting { tenant, limit }
                }
            };
            cli::links(&config, action).await
        }
        Command::Purge { config, dry_run } => {
            let config = load_config(&config)?;
            cli::purge(&config, dry_run).await
        }
        Command::Ticket {
            action:
                TicketAction::Show {
                    config,
                    tenant,
                    ticket,
                    output,
                    limit,
                },
        } => {
            let config = load_config(&config)?;
            let output = match output {
                TicketOutput::Text => cli::TicketOutput::Text,
                TicketOutput::Json => cli::TicketOutput::Json,
            };
            cli::ticket_show(&config, &tenant, &ticket, output, limit).await
        }
        Command::Tour { gateway, sim } => {
            let mut out = std::io::stdout().lock();
            let ok = if cli::gateway_answers(&gateway).await {
                cli::tour(&cli::TourOptions { gateway, sim }, &mut out).await?
            } else {
                let mut config = Config::embedded_default();
                config.log.level = "warn".into();
                itsm_bridge::telemetry::init_logging(&config.log);
                cli::tour_in_process(config, &mut out).await?
            };
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Orange {
            config,
            tenant,
            api,
        } => {
            let config = load_config(&config)?;
            let OrangeCommand::Incidents { action } = api;
            let action = match action {
                IncidentAction::List {
                    filters,
                    sort,
                    offset,
                    limit,
                    all,
                } => cli::IncidentAction::List {
                    filters,
                    sort,
                    offset,
                    limit,
                    all,
                },
                IncidentAction::Get { id } => cli::IncidentAction::Get { id },
                IncidentAction::Notes { id } => cli::IncidentAction::Notes { id },
            };
            cli::orange_incidents(&config, tenant.as_deref(), action).await
        }
    }
}
