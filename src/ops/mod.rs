//! Operations an operator runs, shared by the command line and the admin API so both do
//! exactly the same thing (neither driver imports the other).

pub mod dlq;
pub mod events;
pub mod links;
pub mod overview;
pub mod timeline;
