//! The commands behind `main.rs`, one file each, so the binary stays a thin parser.

mod check;
mod dlq;
mod doctor;
mod events;
mod healthcheck;
mod links;
mod map;
mod orange;
mod purge;
mod serve;
mod sim;
mod ticket;
mod tour;

pub use check::check;
pub use dlq::{DlqAction, dlq};
pub use doctor::{Row as DoctorRow, doctor};
pub use events::{EventsAction, events};
pub use healthcheck::{DEFAULT_URL as HEALTHCHECK_URL, healthcheck};
pub use links::{LinksAction, links};
pub use map::map;
pub use orange::{IncidentAction, orange_incidents};
pub use purge::purge;
pub use serve::{migrate, serve};
pub use sim::sim;
pub use ticket::{Output as TicketOutput, ticket_show};
pub use tour::{TourOptions, gateway_answers, tour, tour_in_process};
