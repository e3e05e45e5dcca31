//! Identifier newtypes. Parse, don't validate: a `TenantId` that exists is a valid one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} may only contain a-z, 0-9, '-' and '_' (got {value:?})")]
    BadChar { what: &'static str, value: String },
}

fn check_slug(what: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { what });
    }
    if s.chars().count() > max {
        return Err(IdError::TooLong { what, max });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(IdError::BadChar {
            what,
            value: s.to_owned(),
        });
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates the identifier.
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_slug($what, &s, $max)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// A customer (tenant) of the gateway, as it appears in `/webhooks/{tenant}/…`.
    TenantId, "tenant id", 64
);
slug_id!(
    /// A webhook source of a tenant (`servicenow`, `jira`, `generic` or a named channel).
    SourceName, "source name", 64
);

/// Identifier of an accepted event: a UUIDv7, so ids sort by acceptance time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
    pub fn parse(s: &str) -> Result<Self, uuid::Error> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}
impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}
impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identifier of a delivery (one outbound call to make), assigned by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub i64);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The ITSM ticket an event or delivery is about: `tenant/source/ticket`.
///
/// Deliveries with the same key are made strictly in order; different keys are independent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketKey(String);

impl TicketKey {
    pub fn new(tenant: &TenantId, source: &SourceName, ticket: &str) -> Self {
        Self(format!("{tenant}/{source}/{ticket}"))
    }
    /// Rebuilds a key read back from the store.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The ITSM's own id of the ticket (the part after `tenant/source/`).
    pub fn ticket(&self) -> &str {
        self.0.splitn(3, '/').nth(2).unwrap_or("")
    }
}
impl fmt::Display for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_slugs() {
        assert!(TenantId::parse("acme-fr_1").is_ok());
        assert!(matches!(TenantId::parse(""), Err(IdError::Empty { .. })));
        assert!(matches!(
            TenantId::parse("Acme"),
            Err(IdError::BadChar { .. })
        ));
        assert!(matches!(
            TenantId::parse("a/b"),
            Err(IdError::BadChar { .. })
        ));
    }

    #[test]
    fn ticket_key_keeps_slashes_in_ticket_part() {
        let k = TicketKey::new(
            &TenantId::parse("t").unwrap(),
            &SourceName::parse("jira").unwrap(),
            "OPS/1",
        );
        assert_eq!(k.as_str(), "t/jira/OPS/1");
        assert_eq!(k.ticket(), "OPS/1");
    }
}
