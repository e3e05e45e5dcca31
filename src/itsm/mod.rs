//! ServiceNow and Jira write-back clients, the same shape as `orange/`.
//!
//! NOTE: placeholder door; the clients land with the round-trip issue.
