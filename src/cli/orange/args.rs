//! The `orange …` command tree: one subcommand per Orange API, parsed by clap.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table (the default on a terminal).
    Table,
    /// One JSON object per line (the default when stdout is not a terminal).
    Json,
}

/// The options every `orange …` command takes, before or after its subcommand.
#[derive(Debug, Clone, Args)]
pub struct OrangeGlobals {
    /// The tenant whose Orange credentials are used [default: the only tenant of the config]
    #[arg(long, global = true, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// `table` or `json` (one JSON object per line) [default: table on a terminal, else json]
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Subcommand)]
pub enum OrangeCommand {
    /// Incident API: incidents, their notes, attachments and freeze periods, aggregation.
    #[command(subcommand)]
    Incidents(IncidentCommand),
    /// Wholesale Trouble Tickets API: service numbers, tickets, comments, search.
    #[command(subcommand)]
    Tickets(TicketCommand),
    /// Core Information API: accounts, locations, service points, configuration items.
    #[command(subcommand, name = "core-info")]
    CoreInfo(CoreInfoCommand),
    /// Ordering API: requests (orders) and catalog items.
    #[command(subcommand)]
    Ordering(OrderingCommand),
    /// Status and version of the four APIs, one row each; exit 1 when one does not answer.
    Status,
}

/// Filters, sort and paging of a list.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Equality filters as PATH=VALUE, passed to Orange as query parameters, e.g.
    /// location.address.country=FR priority=P1.
    #[arg(value_name = "PATH=VALUE")]
    pub positional_filters: Vec<String>,
    /// An equality filter as PATH=VALUE (repeatable); the same as a positional one.
    #[arg(long = "filter", value_name = "PATH=VALUE")]
    pub filters: Vec<String>,
    /// Comma-separated fields to sort by; a leading '-' sorts descending (e.g. -createdAt).
    #[arg(long)]
    pub sort: Option<String>,
    /// Index of the first item (0 is the first). With --offset or --limit one page is read,
    /// exactly as asked.
    #[arg(long, value_name = "N")]
    pub offset: Option<u32>,
    /// At most this many items (one page).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Page size when every page is read (without --offset and --limit).
    #[arg(long, default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
}

/// A JSON body to send.
#[derive(Debug, Clone, Args)]
pub struct BodyArg {
    /// The JSON body: a file, or '-' for standard input.
    #[arg(long, value_name = "FILE|-")]
    pub body: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// List incidents. Without --offset/--limit every page is read (offset/limit pages of
    /// --page-size until X-Total-Count is reached or a page comes back short); with them,
    /// that one page.
    List(ListArgs),
    /// Show one incident.
    Get { id: String },
    /// Create an incident (POST /incidents) from a JSON body; prints Orange's answer.
    Create(BodyArg),
    /// Update an incident (PATCH /incidents/ID) with the fields of a JSON body.
    Update {
        id: String,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Notes of an incident: list them, add one.
    #[command(subcommand)]
    Notes(NoteCommand),
    /// Attachments of an incident: list, download, upload.
    #[command(subcommand)]
    Attachments(AttachmentCommand),
    /// The freeze periods of an incident.
    FreezePeriods { id: String },
    /// Counts of incidents grouped by fields (GET /aggregation), with optional filters.
    Aggregation {
        /// Comma-separated fields to group by, e.g. status,priority.
        #[arg(long, value_name = "FIELDS")]
        group_by: String,
        /// Equality filters as PATH=VALUE.
        #[arg(value_name = "PATH=VALUE")]
        positional_filters: Vec<String>,
        /// An equality filter as PATH=VALUE (repeatable).
        #[arg(long = "filter", value_name = "PATH=VALUE")]
        filters: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum NoteCommand {
    /// List the notes of an incident.
    List { id: String },
    /// Add a note: --text, or a whole JSON body with --body.
    Add {
        id: String,
        /// The note's text (sent as {"text": …}).
        #[arg(long, conflicts_with = "body", required_unless_present = "body")]
        text: Option<String>,
        /// The JSON body: a file, or '-' for standard input.
        #[arg(long, value_name = "FILE|-")]
        body: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AttachmentCommand {
    /// List the attachments of an incident.
    List { id: String },
    /// Download an attachment to --out, or to stdout when it is not a terminal.
    Get {
        id: String,
        attachment: String,
        /// Where to write the file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Upload a local file (multipart/form-data, at most `delivery.max_attachment_bytes`).
    Upload {
        id: String,
        file: PathBuf,
        /// The file's name at Orange [default: the local file's name]
        #[arg(long)]
        name: Option<String>,
        /// Its content type [default: from the extension, else application/octet-stream]
        #[arg(long, value_name = "TYPE")]
        content_type: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// The Orange service (LD) numbers of the account, to use when creating tickets.
    ServiceNumbers,
    /// Create a trouble ticket from a JSON body; prints Orange's answer ({"ticketId":{"id"}}).
    Create(BodyArg),
    /// Show one trouble ticket.
    Get { id: String },
    /// Add a comment to a ticket: --text (with --service-number), or a JSON body with --body.
    Comment {
        id: String,
        /// The comment's text.
        #[arg(long, conflicts_with = "body", required_unless_present = "body")]
        text: Option<String>,
        /// The ticket's Orange service number, sent as its relatedEntity.
        #[arg(long, value_name = "LD", requires = "text")]
        service_number: Option<String>,
        /// The JSON body: a file, or '-' for standard input.
        #[arg(long, value_name = "FILE|-")]
        body: Option<PathBuf>,
    },
    /// Search tickets with the documented filters as PATH=VALUE (status=ongoing,
    /// orangeServiceNumber=LD000000, creationDateFrom=…, sortColumn=START_DATE, sortAsc=false,
    /// reportedBy=…); reads every page (page/pageSize).
    Search {
        /// Filters as NAME=VALUE.
        #[arg(value_name = "NAME=VALUE")]
        positional_filters: Vec<String>,
        /// A filter as NAME=VALUE (repeatable).
        #[arg(long = "filter", value_name = "NAME=VALUE")]
        filters: Vec<String>,
        /// Tickets per page read.
        #[arg(long, default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        page_size: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum CoreInfoCommand {
    /// Customer accounts.
    #[command(subcommand)]
    Accounts(ReadCommand),
    /// Locations (postal addresses where equipment is deployed).
    #[command(subcommand)]
    Locations(ReadCommand),
    /// Service points (installed offers).
    #[command(subcommand)]
    ServicePoints(ReadCommand),
    /// Configuration items (equipment and access lines).
    #[command(subcommand)]
    ConfigurationItems(ReadCommand),
}

/// List or get in a read-only collection.
#[derive(Debug, Subcommand)]
pub enum ReadCommand {
    /// List. Without --offset/--limit every page is read; with them, that one page.
    List(ListArgs),
    /// Show one by id.
    Get { id: String },
}

#[derive(Debug, Subcommand)]
pub enum OrderingCommand {
    /// Requests (orders): list, get, create.
    #[command(subcommand)]
    Requests(RequestCommand),
    /// Catalog items: list, get.
    #[command(subcommand)]
    CatalogItems(ReadCommand),
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// List requests. Without --offset/--limit every page is read; with them, that one page.
    List(ListArgs),
    /// Show one request.
    Get { id: String },
    /// Submit a request (POST /requests) from a JSON body; prints Orange's answer.
    Create(BodyArg),
}
