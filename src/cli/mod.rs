//! The command tree (`args.rs`) and the commands behind `main.rs`, one file each, so the
//! binary stays a thin parser. Every command writes its output through `out.rs`.

mod args;
mod check;
mod completions;
mod dlq;
mod doctor;
mod events;
mod healthcheck;
mod links;
mod map;
mod orange;
pub mod out;
mod purge;
mod serve;
mod sim;
mod ticket;
mod tour;

pub use args::{
    Cli, Command, DlqArgs, EventsArgs, LinksCommand, Shell, TicketAction, TicketFormat, VERSION,
};
pub use check::check;
pub use completions::{completions, script as completion_script};
pub use dlq::{DlqAction, dlq};
pub use doctor::{Row as DoctorRow, doctor};
pub use events::{EventsAction, events};
pub use healthcheck::{DEFAULT_URL as HEALTHCHECK_URL, healthcheck};
pub use links::{LinksAction, links};
pub use map::map;
pub use orange::orange;
pub use purge::purge;
pub use serve::{migrate, serve};
pub use sim::sim;
pub use ticket::{Output as TicketOutput, ticket_show};
pub use tour::{TourOptions, gateway_answers, tour, tour_in_process};
