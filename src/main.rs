//! The `itsm-bridge` command line: parse, load config, call the library. Nothing else.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use itsm_bridge::cli::{Cli, Command, TicketAction};
use itsm_bridge::config::Config;

/// mimalloc instead of glibc's allocator: the hot paths (JSON bodies, HTTP buffers, SQL
/// parameters) allocate small, short-lived objects from many threads, where glibc's
/// arenas spent about a fifth of the delivery benchmark's CPU (`benches/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
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
        // The reader of stdout went away (`| head`): nothing more to say to anyone.
        Err(e) if itsm_bridge::cli::out::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    use itsm_bridge::cli;
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve {
            listen,
            sandbox,
            sim_listen,
        } => {
            let mut config = load_config(config)?;
            if let Some(l) = listen {
                config.listen = l;
            }
            itsm_bridge::telemetry::init(&config.log, &config.telemetry);
            cli::serve(config, sandbox.then_some(sim_listen)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let config = match load_config(config) {
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
        Command::Doctor { tenant, output } => {
            let config = load_config(config)?;
            cli::doctor(&config, tenant.as_deref(), output == "json").await
        }
        Command::Healthcheck { url, timeout_secs } => {
            Ok(cli::healthcheck(&url, std::time::Duration::from_secs(timeout_secs.max(1))).await)
        }
        Command::Migrate => {
            let config = load_config(config)?;
            cli::migrate(&config).await.context("migration failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq { action } => cli::dlq(&load_config(config)?, action.into()).await,
        Command::Events { action } => cli::events(&load_config(config)?, action.into()).await,
        Command::Links { action } => cli::links(&load_config(config)?, action.into()).await,
        Command::Purge { dry_run } => {
            let config = load_config(config)?;
            cli::purge(&config, dry_run).await
        }
        Command::Ticket {
            action:
                TicketAction::Show {
                    tenant,
                    ticket,
                    output,
                    limit,
                },
        } => {
            let config = load_config(config)?;
            cli::ticket_show(&config, &tenant, &ticket, output.into(), limit).await
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
        Command::Orange { globals, api } => Ok(cli::orange(config, globals, api).await),
        Command::Completions { shell } => {
            cli::completions(shell);
            Ok(ExitCode::SUCCESS)
        }
    }
}
