//! The commands behind `main.rs`, one file each, so the binary stays a thin parser.

mod check;
mod dlq;
mod doctor;
mod map;
mod orange;
mod serve;
mod sim;

pub use check::check;
pub use dlq::{DlqAction, dlq};
pub use doctor::{Row as DoctorRow, doctor};
pub use map::map;
pub use orange::{IncidentAction, orange_incidents};
pub use serve::{migrate, serve};
pub use sim::sim;
