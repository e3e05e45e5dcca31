//! The event the SQLite unit tests ingest: tenant `t`, a Jira ticket, no deliveries.

use crate::domain::{EventId, NewEvent, SourceName, TenantId, TicketKey};

/// An event of Jira ticket `ticket` with dedupe key `key`, received at the epoch, planning
/// nothing.
pub(super) fn jira_event(key: &str, ticket: &str) -> NewEvent {
    let tenant = TenantId::parse("t").unwrap();
    let source = SourceName::parse("jira").unwrap();
    NewEvent {
        id: EventId::new(),
        ticket: TicketKey::new(&tenant, &source, ticket),
        tenant,
        source,
        dedupe_key: key.into(),
        event_type: "e".into(),
        body: bytes::Bytes::from_static(b"{}"),
        headers: vec![],
        received_at: time::OffsetDateTime::UNIX_EPOCH,
        ticket_number: None,
        routing: Default::default(),
        deliveries: vec![],
        disposition: Default::default(),
    }
}
