//! The simulator's inferred-behaviour switches: what the Orange simulators do where the seed
//! documents are silent (docs/orange-assumptions.md lists each), and on the ITSM side what
//! differs between the sites a customer may run (a Jira Cloud or Data Center site). Every switch has a default
//! (today's behaviour, what the gateway assumes) and the plausible alternatives, so tests and
//! `itsm-bridge doctor` can check that the gateway stays correct when the live API differs.
//!
//! Switched at start (`itsm-bridge sim --inferred KEY=VALUE`, [`super::SimOptions::inferred`])
//! or at run time (`GET/POST /_sim/inferred`); `POST /_sim/reset` restores the start values.

use serde_json::{Map, Value, json};

/// Declares a switch's value type: its variants and their wire names, in allowed order.
macro_rules! choice {
    ($(#[$m:meta])* $name:ident { $first:ident => $fs:literal $(, $variant:ident => $s:literal)* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum $name {
            #[default]
            $first,
            $($variant),*
        }

        impl $name {
            /// Every allowed value, the default first.
            pub const VALUES: &'static [&'static str] = &[$fs $(, $s)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    Self::$first => $fs,
                    $(Self::$variant => $s),*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $fs => Some(Self::$first),
                    $($s => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

// The first value of each list is the default: today's behaviour, what the gateway assumes.
choice!(
    /// What a list does with a query parameter (or range filter) the seeds do not document.
    FilterMode { Apply => "apply", Ignore => "ignore", Reject => "reject" }
);
choice!(
    /// What a list does with `sort=` on a field other than the documented `createdAt`.
    SortMode { Honour => "honour", Ignore => "ignore", Reject => "reject" }
);
choice!(
    /// Whether the Incident API keeps `externalReference` (not in the public model) from a
    /// create or update body.
    ReferenceMode { Stored => "stored", Dropped => "dropped" }
);
choice!(
    /// The answer to a missing or wrong `X-Api-Key`: 401 code 40/41, or 403 code 50.
    ApiKeyFailure { Unauthorized => "unauthorized", Forbidden => "forbidden" }
);
choice!(
    /// Whether Wholesale Trouble Tickets requires the `X-Application-Id` header (400 code 25
    /// without it).
    ApplicationIdMode { Unchecked => "unchecked", Required => "required" }
);
choice!(
    /// The note type Wholesale stores for a customer comment: `Inward customer comments`
    /// whatever was sent (what the docs' GET example shows for a comment their update
    /// example sends as `Comments`), or the type sent.
    NoteTypeMode { Inward => "inward", AsSent => "as_sent" }
);

choice!(
    /// The Jira site the simulator plays (ITSM side): Data Center (`/search` by `startAt`;
    /// no `/search/jql`) or Cloud (`/search/jql` by `nextPageToken`; `/search` is 410 Gone).
    JiraSite { DataCenter => "data_center", Cloud => "cloud" }
);

choice!(
    /// The ServiceNow user's rights (ITSM side): `itil` (read and write incidents, read the
    /// journal), `read_only` (`snc_read_only` too: every write is refused), `no_journal`
    /// (reading `sys_journal_field` is refused).
    ServicenowRights { Itil => "itil", ReadOnly => "read_only", NoJournal => "no_journal" }
);
choice!(
    /// The Jira user's permissions (ITSM side): all the write-back needs, or everything but
    /// `TRANSITION_ISSUES` (no transition is offered).
    JiraPermissions { All => "all", NoTransition => "no_transition" }
);

/// The note type the docs' GET example shows on a customer comment.
pub const INWARD_COMMENT: &str = "Inward customer comments";

/// Every switch, with its current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inferred {
    /// Query parameters not documented for the collection (`externalReference` on incidents,
    /// `externalId` on trouble-ticket search, `customerReference` on orders).
    pub unknown_filters: FilterMode,
    /// `sort=` on any field but `createdAt` (Incident and Ordering lists).
    pub sort_fields: SortMode,
    /// Range filters `field>=v` / `field<=v` (Incident and Ordering lists).
    pub range_filters: FilterMode,
    pub incident_reference: ReferenceMode,
    pub api_key_failure: ApiKeyFailure,
    pub application_id: ApplicationIdMode,
    pub wholesale_note_type: NoteTypeMode,
    pub jira_site: JiraSite,
    pub servicenow_rights: ServicenowRights,
    pub jira_permissions: JiraPermissions,
}

/// One switch: its name, what it governs, and how to read and write it.
struct Switch {
    name: &'static str,
    about: &'static str,
    allowed: &'static [&'static str],
    get: fn(&Inferred) -> &'static str,
    set: fn(&mut Inferred, &str) -> bool,
}

macro_rules! switch {
    ($field:ident, $ty:ident, $about:literal) => {
        Switch {
            name: stringify!($field),
            about: $about,
            allowed: $ty::VALUES,
            get: |i| i.$field.as_str(),
            set: |i, v| match $ty::parse(v) {
                Some(x) => {
                    i.$field = x;
                    true
                }
                None => false,
            },
        }
    };
}

const SWITCHES: [Switch; 10] = [
    switch!(
        unknown_filters,
        FilterMode,
        "query parameters the seeds do not document for the collection (externalReference on \
         incidents, externalId on trouble-ticket search, customerReference on orders): apply as \
         equality filters, ignore, or reject with 400 code 28"
    ),
    switch!(
        sort_fields,
        SortMode,
        "sort on a field other than the documented createdAt: honour, ignore (natural order, \
         oldest created first), or reject with 400 code 28"
    ),
    switch!(
        range_filters,
        FilterMode,
        "range filters field>=v / field<=v (e.g. lastUpdateDate>=): apply, ignore, or reject \
         with 400 code 28"
    ),
    switch!(
        incident_reference,
        ReferenceMode,
        "whether an incident keeps the externalReference of its create/update body"
    ),
    switch!(
        api_key_failure,
        ApiKeyFailure,
        "a missing or wrong X-Api-Key: 401 code 40/41 (unauthorized) or 403 code 50 (forbidden)"
    ),
    switch!(
        application_id,
        ApplicationIdMode,
        "whether Wholesale Trouble Tickets requires the X-Application-Id header (400 code 25)"
    ),
    switch!(
        wholesale_note_type,
        NoteTypeMode,
        "the note type stored for a Wholesale comment: always 'Inward customer comments' (as \
         the docs' ticket example shows a comment sent as 'Comments'), or as sent"
    ),
    switch!(
        jira_site,
        JiraSite,
        "the Jira site played: data_center (search by startAt at /search) or cloud (search by \
         nextPageToken at /search/jql; /search answers 410 Gone)"
    ),
    switch!(
        servicenow_rights,
        ServicenowRights,
        "the ServiceNow user's roles: itil; read_only (snc_read_only too: writes are 403); \
         no_journal (reading sys_journal_field is 403)"
    ),
    switch!(
        jira_permissions,
        JiraPermissions,
        "the Jira user's permissions: all, or no_transition (TRANSITION_ISSUES not granted, \
         no transition offered)"
    ),
];

/// A switch name or value the simulator does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InferredError {
    #[error("unknown inferred switch '{0}' (known: {known})", known = names().join(", "))]
    UnknownSwitch(String),
    #[error("switch '{name}' cannot be '{value}' (allowed: {allowed})")]
    BadValue {
        name: String,
        value: String,
        allowed: String,
    },
    #[error("expected KEY=VALUE, got '{0}'")]
    NotAnAssignment(String),
    #[error("expected a JSON object of switch names to string values")]
    NotAnObject,
}

fn names() -> Vec<&'static str> {
    SWITCHES.iter().map(|s| s.name).collect()
}

impl Inferred {
    /// `{name: {value, default, allowed, about}}` for every switch.
    pub fn listing(&self) -> Value {
        let defaults = Self::default();
        let m: Map<String, Value> = SWITCHES
            .iter()
            .map(|s| {
                (
                    s.name.to_owned(),
                    json!({"value": (s.get)(self), "default": (s.get)(&defaults),
                           "allowed": s.allowed, "about": s.about}),
                )
            })
            .collect();
        Value::Object(m)
    }

    /// Sets one switch by name.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), InferredError> {
        let s = SWITCHES
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| InferredError::UnknownSwitch(name.to_owned()))?;
        if (s.set)(self, value) {
            Ok(())
        } else {
            Err(InferredError::BadValue {
                name: name.to_owned(),
                value: value.to_owned(),
                allowed: s.allowed.join(" | "),
            })
        }
    }

    /// Applies `{"unknown_filters": "ignore", …}` all or nothing.
    pub fn patch(&mut self, patch: &Value) -> Result<(), InferredError> {
        let obj = patch.as_object().ok_or(InferredError::NotAnObject)?;
        let mut next = *self;
        for (k, v) in obj {
            let v = v.as_str().ok_or_else(|| InferredError::BadValue {
                name: k.clone(),
                value: v.to_string(),
                allowed: SWITCHES
                    .iter()
                    .find(|s| s.name == k)
                    .map(|s| s.allowed.join(" | "))
                    .unwrap_or_default(),
            })?;
            next.set(k, v)?;
        }
        *self = next;
        Ok(())
    }

    /// Parses `KEY=VALUE` assignments (the `--inferred` flags) over the defaults.
    pub fn from_assignments<S: AsRef<str>>(list: &[S]) -> Result<Self, InferredError> {
        let mut i = Self::default();
        for a in list {
            let a = a.as_ref();
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| InferredError::NotAnAssignment(a.to_owned()))?;
            i.set(k.trim(), v.trim())?;
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_names_every_switch_with_its_value_default_and_allowed_values() {
        let mut i = Inferred::default();
        i.set("unknown_filters", "reject").unwrap();
        let l = i.listing();
        assert_eq!(l["unknown_filters"]["value"], "reject");
        assert_eq!(l["unknown_filters"]["default"], "apply");
        assert_eq!(
            l["unknown_filters"]["allowed"],
            json!(["apply", "ignore", "reject"])
        );
        assert_eq!(
            l["sort_fields"]["allowed"],
            json!(["honour", "ignore", "reject"])
        );
        assert_eq!(l.as_object().unwrap().len(), SWITCHES.len());
    }

    #[test]
    fn a_patch_with_one_bad_entry_changes_nothing() {
        let mut i = Inferred::default();
        let e = i
            .patch(&json!({"range_filters": "ignore", "sort_fields": "sometimes"}))
            .unwrap_err();
        assert!(e.to_string().contains("honour | ignore | reject"), "{e}");
        assert_eq!(i, Inferred::default());
        let e = i.patch(&json!({"nope": "apply"})).unwrap_err();
        assert!(
            e.to_string().contains("unknown inferred switch 'nope'"),
            "{e}"
        );
    }

    #[test]
    fn assignments_parse_over_the_defaults() {
        let i = Inferred::from_assignments(&["unknown_filters=ignore", "sort_fields = reject"])
            .unwrap();
        assert_eq!(i.unknown_filters, FilterMode::Ignore);
        assert_eq!(i.sort_fields, SortMode::Reject);
        assert_eq!(i.range_filters, FilterMode::Apply);
        assert!(matches!(
            Inferred::from_assignments(&["unknown_filters"]),
            Err(InferredError::NotAnAssignment(_))
        ));
    }
}
