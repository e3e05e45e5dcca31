//! Calls the gateway plans: what a mapping turns an ITSM event into (towards Orange), and what
//! the poller turns an Orange change into (towards the ITSM).
//!
//! A call is data, stored in the delivery row as JSON, so a restart or another replica can
//! carry it out. Values known only at delivery time (the Orange id of the ticket, a Core
//! Information lookup) are left as references and resolved by the dispatcher.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The four Orange APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrangeApi {
    Incident,
    TroubleTicket,
    CoreInformation,
    Ordering,
}

impl OrangeApi {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incident => "incident",
            Self::TroubleTicket => "trouble_ticket",
            Self::CoreInformation => "core_information",
            Self::Ordering => "ordering",
        }
    }
}

/// The Orange operation a call performs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OrangeOp {
    /// `POST /incidents`. Creates the link ticket ↔ incident id.
    CreateIncident,
    /// `PATCH /incidents/{id}` on the linked incident.
    UpdateIncident,
    /// `POST /incidents/{id}/notes` on the linked incident.
    AddIncidentNote,
    /// Download `url` from the ITSM with the tenant's ITSM credentials, then
    /// `POST /incidents/{id}/attachments` (multipart) on the linked incident.
    UploadIncidentAttachment {
        url: String,
        filename: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },
    /// Wholesale `POST /troubleTickets`. Creates the link ticket ↔ trouble ticket id.
    CreateTroubleTicket,
    /// Wholesale comment on the linked trouble ticket.
    CommentTroubleTicket,
    /// Ordering `POST /requests`. Creates the link ticket ↔ request id.
    SubmitOrder,
}

impl OrangeOp {
    pub fn api(&self) -> OrangeApi {
        match self {
            Self::CreateIncident
            | Self::UpdateIncident
            | Self::AddIncidentNote
            | Self::UploadIncidentAttachment { .. } => OrangeApi::Incident,
            Self::CreateTroubleTicket | Self::CommentTroubleTicket => OrangeApi::TroubleTicket,
            Self::SubmitOrder => OrangeApi::Ordering,
        }
    }
    /// True for operations that create the Orange object (and so the link).
    pub fn creates(&self) -> bool {
        matches!(
            self,
            Self::CreateIncident | Self::CreateTroubleTicket | Self::SubmitOrder
        )
    }
    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CreateIncident => "create_incident",
            Self::UpdateIncident => "update_incident",
            Self::AddIncidentNote => "add_incident_note",
            Self::UploadIncidentAttachment { .. } => "upload_incident_attachment",
            Self::CreateTroubleTicket => "create_trouble_ticket",
            Self::CommentTroubleTicket => "comment_trouble_ticket",
            Self::SubmitOrder => "submit_order",
        }
    }
}

/// A Core Information lookup, resolved at delivery time (cached) and written into the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// JSON pointer in the body where the resolved value goes (`/servicePoint/id`).
    pub target: String,
    /// Collection: `servicePoints`, `configurationItems`, `locations` or `accounts`.
    pub collection: String,
    /// Equality filters sent as query parameters (`name=PARIS-RTR-01`).
    pub filters: Vec<(String, String)>,
    /// Field of the first match to copy (`id`).
    pub field: String,
    /// What to do when nothing matches: `None` fails the delivery permanently, `Some(v)`
    /// writes `v` instead (may be JSON null to omit). Absent in JSON means `None`; a JSON
    /// `null` means `Some(Value::Null)`, so the difference survives the store.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_value"
    )]
    pub default: Option<Value>,
}

/// A field that is present (even as `null`) deserialises to `Some`.
fn present_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One planned call to Orange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrangeCall {
    #[serde(flatten)]
    pub op: OrangeOp,
    /// Request body (JSON). For attachments: extra form fields, usually empty.
    pub body: Value,
    /// The ITSM ticket's reference as sent to Orange (incident `externalReference`, trouble
    /// ticket `externalId`, order `customerReference`): used to find an object whose create
    /// outcome is unknown before retrying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<Lookup>,
}

/// Which ITSM a write-back goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItsmKind {
    Servicenow,
    Jira,
}

/// The ITSM operation a write-back performs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ItsmOp {
    /// ServiceNow Table API `PATCH /api/now/table/{table}/{sys_id}` with `fields`
    /// (state, close_code/close_notes, work_notes/comments, correlation_id, …).
    ServicenowPatch {
        table: String,
        sys_id: String,
        fields: serde_json::Map<String, Value>,
    },
    /// Jira comment on `issue`; `public: false` makes a JSM internal note.
    JiraComment {
        issue: String,
        body: String,
        public: bool,
    },
    /// Jira transition to the first available transition whose name (or target status name)
    /// matches `transition`, case-insensitively.
    JiraTransition {
        issue: String,
        transition: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<Value>,
    },
    /// Jira `PUT /issue/{issue}` with `fields`.
    JiraEdit {
        issue: String,
        fields: serde_json::Map<String, Value>,
    },
}

/// One planned write-back to the tenant's ITSM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItsmCall {
    pub itsm: ItsmKind,
    #[serde(flatten)]
    pub op: ItsmOp,
    /// Fingerprint of what is written, kept so the webhook it triggers is recognised as an
    /// echo at ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl ItsmCall {
    /// A ServiceNow `PATCH /table/{table}/{sys_id}` of `fields`, with no echo fingerprint yet.
    pub fn servicenow_patch(
        table: impl Into<String>,
        sys_id: impl Into<String>,
        fields: serde_json::Map<String, Value>,
    ) -> Self {
        Self {
            itsm: ItsmKind::Servicenow,
            op: ItsmOp::ServicenowPatch {
                table: table.into(),
                sys_id: sys_id.into(),
                fields,
            },
            fingerprint: None,
        }
    }
}

/// Where a delivery goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Target {
    Orange(OrangeCall),
    Itsm(ItsmCall),
}

impl Target {
    /// Rate-limit / metrics label: `orange.incident`, `itsm.jira`, …
    pub fn label(&self) -> String {
        match self {
            Self::Orange(c) => format!("orange.{}", c.op.api().as_str()),
            Self::Itsm(c) => format!(
                "itsm.{}",
                match c.itsm {
                    ItsmKind::Servicenow => "servicenow",
                    ItsmKind::Jira => "jira",
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_lookup_default_is_not_lost_in_json() {
        let l = Lookup {
            target: "/servicePoint/id".into(),
            collection: "servicePoints".into(),
            filters: vec![("name".into(), "X".into())],
            field: "id".into(),
            default: Some(Value::Null),
        };
        let back: Lookup = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back.default, Some(Value::Null));
        let none = Lookup { default: None, ..l };
        let back: Lookup = serde_json::from_str(&serde_json::to_string(&none).unwrap()).unwrap();
        assert_eq!(back.default, None);
    }

    #[test]
    fn calls_round_trip_through_json() {
        let t = Target::Orange(OrangeCall {
            op: OrangeOp::UploadIncidentAttachment {
                url: "https://x/a".into(),
                filename: "a.txt".into(),
                content_type: None,
            },
            body: serde_json::json!({}),
            external_ref: Some("INC1".into()),
            lookups: vec![],
        });
        let s = serde_json::to_string(&t).unwrap();
        assert!(s.contains(r#""target":"orange""#), "{s}");
        assert!(s.contains(r#""op":"upload_incident_attachment""#), "{s}");
        let back: Target = serde_json::from_str(&s).unwrap();
        assert_eq!(back, t);
    }
}
