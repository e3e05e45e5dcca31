//! The JSON Schemas embedded in the binary (`schemas/`): mapping files, Orange request bodies
//! and incoming ITSM events. Each is compiled once, on first use.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

use crate::domain::{OrangeOp, SourceKind};

pub const MAPPING: &str = include_str!("../../schemas/mapping.schema.json");
pub const INCIDENT_CREATE: &str = include_str!("../../schemas/orange/incident-create.json");
pub const INCIDENT_UPDATE: &str = include_str!("../../schemas/orange/incident-update.json");
pub const INCIDENT_NOTE: &str = include_str!("../../schemas/orange/incident-note.json");
pub const TROUBLE_TICKET_CREATE: &str =
    include_str!("../../schemas/orange/trouble-ticket-create.json");
pub const TROUBLE_TICKET_COMMENT: &str =
    include_str!("../../schemas/orange/trouble-ticket-comment.json");
pub const ORDERING_REQUEST: &str = include_str!("../../schemas/orange/ordering-request.json");
pub const EVENT_JIRA: &str = include_str!("../../schemas/events/jira.json");
pub const EVENT_SERVICENOW: &str = include_str!("../../schemas/events/servicenow.json");

fn compiled(cell: &'static OnceLock<Option<Validator>>, text: &str) -> Option<&'static Validator> {
    cell.get_or_init(|| {
        let schema: Value = serde_json::from_str(text).ok()?;
        jsonschema::validator_for(&schema).ok()
    })
    .as_ref()
}

macro_rules! validator {
    ($name:ident, $text:expr) => {
        fn $name() -> Option<&'static Validator> {
            static CELL: OnceLock<Option<Validator>> = OnceLock::new();
            compiled(&CELL, $text)
        }
    };
}

validator!(mapping_v, MAPPING);
validator!(incident_create_v, INCIDENT_CREATE);
validator!(incident_update_v, INCIDENT_UPDATE);
validator!(incident_note_v, INCIDENT_NOTE);
validator!(tt_create_v, TROUBLE_TICKET_CREATE);
validator!(tt_comment_v, TROUBLE_TICKET_COMMENT);
validator!(ordering_v, ORDERING_REQUEST);
validator!(jira_v, EVENT_JIRA);
validator!(servicenow_v, EVENT_SERVICENOW);

/// One schema violation: where in the instance (JSON pointer) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pointer: String,
    pub message: String,
}

fn violations(v: Option<&Validator>, instance: &Value) -> Vec<Violation> {
    let Some(v) = v else {
        return vec![Violation {
            pointer: String::new(),
            message: "embedded schema does not compile".into(),
        }];
    };
    if v.is_valid(instance) {
        return Vec::new();
    }
    v.iter_errors(instance)
        .map(|e| Violation {
            pointer: e.instance_path().to_string(),
            message: e.to_string(),
        })
        .collect()
}

/// Validates a mapping file (as JSON) against `schemas/mapping.schema.json`.
pub fn check_mapping(file: &Value) -> Vec<Violation> {
    violations(mapping_v(), file)
}

/// Validates an outbound body against the Orange request schema of its operation.
pub fn check_body(op: &OrangeOp, body: &Value) -> Result<(), String> {
    let v = match op {
        OrangeOp::CreateIncident => incident_create_v(),
        OrangeOp::UpdateIncident => incident_update_v(),
        OrangeOp::AddIncidentNote => incident_note_v(),
        OrangeOp::CreateTroubleTicket => tt_create_v(),
        OrangeOp::CommentTroubleTicket => tt_comment_v(),
        OrangeOp::SubmitOrder => ordering_v(),
        OrangeOp::UploadIncidentAttachment { .. } => return Ok(()),
    };
    let errs = violations(v, body);
    if errs.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = errs
        .iter()
        .take(5)
        .map(|e| {
            format!(
                "{}: {}",
                if e.pointer.is_empty() {
                    "/"
                } else {
                    &e.pointer
                },
                e.message
            )
        })
        .collect();
    Err(format!(
        "the {} body breaks the Orange request schema: {}",
        op.name(),
        list.join("; ")
    ))
}

/// Validates an incoming webhook body against the permissive event schema of its kind
/// (`schemas/events/*.json`); generic sources accept any JSON.
pub fn check_event(kind: SourceKind, body: &Value) -> Vec<Violation> {
    match kind {
        SourceKind::Jira => violations(jira_v(), body),
        SourceKind::Servicenow => violations(servicenow_v(), body),
        SourceKind::Generic => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_schema_compiles() {
        for text in [
            MAPPING,
            INCIDENT_CREATE,
            INCIDENT_UPDATE,
            INCIDENT_NOTE,
            TROUBLE_TICKET_CREATE,
            TROUBLE_TICKET_COMMENT,
            ORDERING_REQUEST,
            EVENT_JIRA,
            EVENT_SERVICENOW,
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            jsonschema::validator_for(&v).unwrap();
        }
    }
}
