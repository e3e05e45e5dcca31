//! `itsm-bridge orange …`: a scriptable client of the four Orange APIs with a tenant's
//! credentials, going through the gateway's own clients (token source, rate limiter, error
//! classification). Works with a client-only config (tenants without webhook sources).
//!
//! Exit codes: 0 done; 1 the call failed (Orange's status, code and message are shown, or
//! why Orange could not be reached); 2 usage or config error (bad flags, unreadable config or
//! body, unknown tenant). A closed stdout ends the command quietly (exit 0).

mod args;
mod input;
mod output;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};

pub use args::*;

use crate::config::{Config, Purpose};
use crate::domain::{CallFailure, OrangeApi};
use crate::orange::OrangeClient;
use crate::orange::browse::{Collection, ListError, PageQuery};
use input::{comment_body, guess_content_type, parse_filters, read_body};
use output::Printer;

/// Why a command stopped.
enum Failure {
    /// Exit 2: the command line, the config or an input file is wrong.
    Usage(String),
    /// Exit 1: Orange answered with an error, or could not be reached.
    Orange(CallFailure),
    /// Writing the output failed (a closed pipe ends quietly).
    Output(std::io::Error),
}

impl From<CallFailure> for Failure {
    fn from(f: CallFailure) -> Self {
        Failure::Orange(f)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Output(e)
    }
}

impl From<ListError> for Failure {
    fn from(e: ListError) -> Self {
        match e {
            ListError::Orange(f) => Failure::Orange(f),
            ListError::Output(e) => Failure::Output(e),
        }
    }
}

type Done = Result<(), Failure>;

/// Runs one `orange …` command with the config at `config` (the embedded default without).
pub async fn orange(
    config: Option<&Path>,
    globals: OrangeGlobals,
    command: OrangeCommand,
) -> ExitCode {
    let outcome = match client(config, globals.tenant.as_deref()) {
        Ok(client) => {
            let format = globals
                .output
                .unwrap_or(if std::io::stdout().is_terminal() {
                    OutputFormat::Table
                } else {
                    OutputFormat::Json
                });
            run(&client, format, command).await
        }
        Err(f) => Err(f),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Orange(f)) => {
            eprintln!("error: {}", describe(&f));
            ExitCode::FAILURE
        }
        Err(Failure::Output(e)) => super::out::quit_on(&e),
    }
}

/// Orange's status, code and message as the operator reads them.
fn describe(f: &CallFailure) -> String {
    match &f.code {
        Some(code) => format!("{} (Orange code {code})", f.message),
        None => f.message.clone(),
    }
}

fn client(config: Option<&Path>, tenant: Option<&str>) -> Result<Arc<OrangeClient>, Failure> {
    let config = match config {
        Some(path) => Config::load_for(path, Purpose::OrangeClient)
            .map_err(|e| Failure::Usage(format!("config:\n{e}")))?,
        None => Config::embedded_default(),
    };
    let tenant = match tenant {
        Some(t) => config
            .tenant(t)
            .ok_or_else(|| Failure::Usage(format!("no tenant {t:?} in the config")))?,
        None => match config.tenants.as_slice() {
            [only] => only,
            [] => return Err(Failure::Usage("the config has no tenant".into())),
            _ => {
                return Err(Failure::Usage(
                    "the config has several tenants: choose one with --tenant".into(),
                ));
            }
        },
    };
    let max_attachment = config.delivery.max_attachment_bytes;
    crate::orange::client_for_tenant(&config.orange, max_attachment, tenant)
        .map_err(|e| Failure::Usage(e.to_string()))?
        .ok_or_else(|| Failure::Usage(format!("no Orange client for tenant {}", tenant.id)))
}

async fn run(c: &OrangeClient, format: OutputFormat, command: OrangeCommand) -> Done {
    match command {
        OrangeCommand::Incidents(cmd) => incidents(c, format, cmd).await,
        OrangeCommand::Tickets(cmd) => tickets(c, format, cmd).await,
        OrangeCommand::CoreInfo(cmd) => {
            let (collection, cmd) = match cmd {
                CoreInfoCommand::Accounts(r) => (Collection::Accounts, r),
                CoreInfoCommand::Locations(r) => (Collection::Locations, r),
                CoreInfoCommand::ServicePoints(r) => (Collection::ServicePoints, r),
                CoreInfoCommand::ConfigurationItems(r) => (Collection::ConfigurationItems, r),
            };
            read(c, format, collection, cmd).await
        }
        OrangeCommand::Ordering(OrderingCommand::CatalogItems(cmd)) => {
            read(c, format, Collection::CatalogItems, cmd).await
        }
        OrangeCommand::Ordering(OrderingCommand::Requests(cmd)) => match cmd {
            RequestCommand::List(a) => list(c, format, Collection::Requests, &a).await,
            RequestCommand::Get { id } => {
                output::object(format, &c.get_in(Collection::Requests, &id).await?)?;
                Ok(())
            }
            RequestCommand::Create(b) => {
                output::object(format, &c.submit_order(read_body(&b.body)?).await?)?;
                Ok(())
            }
        },
        OrangeCommand::Status => status(c, format).await,
    }
}

async fn incidents(c: &OrangeClient, format: OutputFormat, cmd: IncidentCommand) -> Done {
    let one = |v: Value| output::object(format, &v).map_err(Failure::Output);
    match cmd {
        IncidentCommand::List(a) => list(c, format, Collection::Incidents, &a).await,
        IncidentCommand::Get { id } => one(c.get_in(Collection::Incidents, &id).await?),
        IncidentCommand::Create(b) => one(c.create_incident(read_body(&b.body)?).await?),
        IncidentCommand::Update { id, body } => {
            one(c.update_incident(&id, read_body(&body.body)?).await?)
        }
        IncidentCommand::Notes(NoteCommand::List { id }) => {
            let notes = c.list_notes(&id).await?;
            print_all(format, &notes)
        }
        IncidentCommand::Notes(NoteCommand::Add { id, text, body }) => {
            let body = match (text, body) {
                (Some(text), _) => json!({ "text": text }),
                (None, Some(path)) => read_body(&path)?,
                (None, None) => return Err(Failure::Usage("give --text or --body".into())),
            };
            one(c.add_note(&id, body).await?)
        }
        IncidentCommand::Attachments(cmd) => attachments(c, format, cmd).await,
        IncidentCommand::FreezePeriods { id } => {
            print_all(format, &c.list_freeze_periods(&id).await?.items)
        }
        IncidentCommand::Aggregation {
            group_by,
            positional_filters,
            filters,
        } => {
            let filters = parse_filters(&positional_filters, &filters)?;
            print_all(
                format,
                &c.aggregate_incidents(&group_by, &filters).await?.items,
            )
        }
    }
}

async fn attachments(c: &OrangeClient, format: OutputFormat, cmd: AttachmentCommand) -> Done {
    match cmd {
        AttachmentCommand::List { id } => print_all(format, &c.list_attachments(&id).await?.items),
        AttachmentCommand::Get {
            id,
            attachment,
            out,
        } => {
            if out.is_none() && std::io::stdout().is_terminal() {
                return Err(Failure::Usage(
                    "an attachment is a file: give --out FILE or redirect stdout".into(),
                ));
            }
            let file = c.download_attachment(&id, &attachment).await?;
            match out {
                Some(path) => std::fs::write(&path, &file.body)
                    .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?,
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&file.body)?;
                    stdout.flush()?;
                }
            }
            Ok(())
        }
        AttachmentCommand::Upload {
            id,
            file,
            name,
            content_type,
        } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
            let name = name
                .or_else(|| file.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "attachment".into());
            let content_type = content_type.unwrap_or_else(|| guess_content_type(&name).into());
            let answer = c
                .upload_attachment(&id, &name, &content_type, bytes.into())
                .await?;
            output::object(format, &answer)?;
            Ok(())
        }
    }
}

async fn tickets(c: &OrangeClient, format: OutputFormat, cmd: TicketCommand) -> Done {
    let one = |v: Value| output::object(format, &v).map_err(Failure::Output);
    match cmd {
        TicketCommand::ServiceNumbers => print_all(format, &c.service_numbers().await?.items),
        TicketCommand::Create(b) => one(c.create_trouble_ticket(read_body(&b.body)?).await?),
        TicketCommand::Get { id } => one(c.get_trouble_ticket(&id).await?),
        TicketCommand::Comment {
            id,
            text,
            service_number,
            body,
        } => {
            let body = match (text, body) {
                (Some(text), _) => comment_body(&text, service_number.as_deref()),
                (None, Some(path)) => read_body(&path)?,
                (None, None) => return Err(Failure::Usage("give --text or --body".into())),
            };
            c.comment_trouble_ticket(&id, body).await?;
            one(json!({ "id": id, "commented": true }))
        }
        TicketCommand::Search {
            positional_filters,
            filters,
            page_size,
        } => {
            let filters = parse_filters(&positional_filters, &filters)?;
            let mut p = Printer::new(format);
            let n = c
                .search_all_trouble_tickets(&filters, page_size, |page| p.items(&page.items))
                .await?;
            p.finish()?;
            summary(&format!("{n} ticket(s)"));
            Ok(())
        }
    }
}

async fn read(c: &OrangeClient, format: OutputFormat, coll: Collection, cmd: ReadCommand) -> Done {
    match cmd {
        ReadCommand::List(a) => list(c, format, coll, &a).await,
        ReadCommand::Get { id } => Ok(output::object(format, &c.get_in(coll, &id).await?)?),
    }
}

/// One page as asked (with --offset/--limit), or every page.
async fn list(c: &OrangeClient, format: OutputFormat, coll: Collection, a: &ListArgs) -> Done {
    let filters = parse_filters(&a.positional_filters, &a.filters)?;
    let mut p = Printer::new(format);
    if a.offset.is_some() || a.limit.is_some() {
        let q = PageQuery {
            filters: &filters,
            sort: a.sort.as_deref(),
            offset: a.offset,
            limit: a.limit,
        };
        let page = c.list_collection(coll, &q).await?;
        p.items(&page.items)?;
        p.finish()?;
        let total = page.total.map_or(String::new(), |t| format!(" of {t}"));
        summary(&format!(
            "{}{total} {} (offset {})",
            page.items.len(),
            coll.path(),
            a.offset.unwrap_or(0)
        ));
        return Ok(());
    }
    let n = c
        .list_all(coll, &filters, a.sort.as_deref(), a.page_size, |page| {
            p.items(&page.items)
        })
        .await?;
    p.finish()?;
    summary(&format!("{n} {}", coll.path()));
    Ok(())
}

fn print_all(format: OutputFormat, items: &[Value]) -> Done {
    let mut p = Printer::new(format);
    p.items(items)?;
    p.finish()?;
    Ok(())
}

/// A count for the person at the terminal; scripts read stdout only.
fn summary(line: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("{line}");
    }
}

async fn status(c: &OrangeClient, format: OutputFormat) -> Done {
    let mut rows = Vec::new();
    let mut failed = None;
    for api in [
        OrangeApi::Incident,
        OrangeApi::TroubleTicket,
        OrangeApi::CoreInformation,
        OrangeApi::Ordering,
    ] {
        let mut row = json!({ "api": api.as_str() });
        match c.api_status(api).await {
            Ok(s) => {
                row["status"] = s.get("status").cloned().unwrap_or(s.clone());
                // Wholesale documents no version resource: its status carries the version.
                let version = if api == OrangeApi::TroubleTicket {
                    Ok(s.get("version").cloned().unwrap_or(Value::Null))
                } else {
                    c.api_version(api)
                        .await
                        .map(|v| v.get("version").cloned().unwrap_or(v))
                };
                match version {
                    Ok(v) => row["version"] = v,
                    Err(f) => {
                        row["error"] = json!(describe(&f));
                        failed = Some(f);
                    }
                }
            }
            Err(f) => {
                row["status"] = json!("unreachable");
                row["error"] = json!(describe(&f));
                failed = Some(f);
            }
        }
        rows.push(row);
    }
    print_all(format, &rows)?;
    match failed {
        Some(f) => Err(Failure::Orange(f)),
        None => Ok(()),
    }
}
