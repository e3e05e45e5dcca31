//! Orange API clients: one token source per credential, a rate limiter per credential, one
//! classification of every outcome, and wire types per API (incident, trouble ticket, core
//! information, ordering).
//!
//! NOTE: placeholder door; the clients land with the delivery issue.
