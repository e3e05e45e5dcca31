//! The way back (Orange → ITSM), compiled from a mapping's `way_back:` section: which ITSM
//! state an Orange status becomes, how Orange notes are pushed, and which ITSM fields receive
//! the Orange id, and what each Orange Ordering `step` does to the ITSM ticket. The poller
//! calls the pure `plan_*` functions and queues what they return.

use serde_json::{Map, Value, json};

use super::template::Template;
use crate::domain::call::ItsmKind;
use crate::domain::{ItsmCall, ItsmOp};

/// What one Orange status becomes in the ITSM.
#[derive(Debug)]
pub enum StatusRule {
    /// ServiceNow: fields to PATCH (`state`, `close_code`, `close_notes`, …), templates over the
    /// Orange object.
    Patch(Vec<(String, Template)>),
    /// Jira: a transition by name (or target status name), with optional field templates.
    Transition {
        name: String,
        fields: Vec<(String, Template)>,
    },
    /// Push nothing for this status.
    Ignore,
}

/// What an ordering request reaching one `step` does in the ITSM: a status rule (Jira
/// transition, ServiceNow fields) and/or a comment (written as `notes.as` says).
#[derive(Debug)]
pub struct StepRule {
    /// The step (upper case), matched case-insensitively.
    pub step: String,
    pub status: Option<StatusRule>,
    /// Comment text over the Orange request (`{{ id }}`, `{{ step }}`, …).
    pub comment: Option<Template>,
}

/// Which Orange notes go to the ITSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotePush {
    /// Notes written by Orange staff only (the usual choice: the customer's own notes came
    /// from the ITSM and would echo).
    Orange,
    All,
    None,
}

/// How pushed notes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteAs {
    /// ServiceNow `work_notes` / Jira internal comment (JSM `jsdPublic: false`).
    Internal,
    /// ServiceNow `comments` / Jira public comment.
    Public,
}

/// The compiled `way_back:` section.
#[derive(Debug)]
pub struct WayBack {
    pub itsm: ItsmKind,
    /// ServiceNow table (default `incident`).
    pub table: String,
    /// Orange status (upper case) → rule; matched case-insensitively.
    pub status: Vec<(String, StatusRule)>,
    /// Used for statuses not in `status`; `None` = push nothing.
    pub status_default: Option<StatusRule>,
    pub notes: NotePush,
    pub note_as: NoteAs,
    /// Note text, over `{id, note}` (`[Orange {{ id }}] {{ note.text }}`).
    pub note_text: Template,
    /// ITSM fields set when the link is made, over `{id}` (`correlation_id: "{{ id }}"`).
    pub orange_id_fields: Vec<(String, Template)>,
    /// Ordering steps in the order a request moves through them: a request seen to have
    /// jumped several steps (two advances between reads) gets each skipped step's rule too,
    /// in order, so a workflow that needs them one after another still follows.
    pub steps: Vec<StepRule>,
}

fn render_fields(fields: &[(String, Template)], v: &Value) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, t)| (k.clone(), Value::String(t.render_value(v))))
        .collect()
}

impl WayBack {
    /// A way back for a source kind with nothing configured: no status push, Orange notes as
    /// internal notes, nothing set on link.
    pub fn empty(kind: crate::domain::SourceKind) -> WayBack {
        WayBack {
            itsm: match kind {
                crate::domain::SourceKind::Jira => ItsmKind::Jira,
                _ => ItsmKind::Servicenow,
            },
            table: "incident".into(),
            status: Vec::new(),
            status_default: None,
            notes: NotePush::Orange,
            note_as: NoteAs::Internal,
            note_text: Template::compile(DEFAULT_NOTE).expect("the default note template compiles"),
            orange_id_fields: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// The ITSM update for an Orange status, or `None` when the status is not pushed.
    /// `orange` is the Orange object (incident, trouble ticket or request) as JSON.
    pub fn plan_status(
        &self,
        ticket: &str,
        orange_status: &str,
        orange: &Value,
    ) -> Option<ItsmCall> {
        let rule = self
            .status
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(orange_status))
            .map(|(_, r)| r)
            .or(self.status_default.as_ref())?;
        self.status_call(ticket, rule, orange)
    }

    fn status_call(&self, ticket: &str, rule: &StatusRule, orange: &Value) -> Option<ItsmCall> {
        let op = match rule {
            StatusRule::Ignore => return None,
            StatusRule::Patch(fields) => ItsmOp::ServicenowPatch {
                table: self.table.clone(),
                sys_id: ticket.to_owned(),
                fields: render_fields(fields, orange),
            },
            StatusRule::Transition { name, fields } => ItsmOp::JiraTransition {
                issue: ticket.to_owned(),
                transition: name.clone(),
                fields: (!fields.is_empty()).then(|| Value::Object(render_fields(fields, orange))),
            },
        };
        Some(ItsmCall {
            itsm: self.itsm,
            op,
            fingerprint: None,
        })
    }

    /// The ITSM write for one Orange note, or `None` when the policy does not push it.
    /// `orange_authored` is false for notes the gateway itself sent (customer notes).
    pub fn plan_note(
        &self,
        ticket: &str,
        orange_id: &str,
        note: &Value,
        orange_authored: bool,
    ) -> Option<ItsmCall> {
        match self.notes {
            NotePush::None => return None,
            NotePush::Orange if !orange_authored => return None,
            _ => {}
        }
        let text = self
            .note_text
            .render_value(&json!({"id": orange_id, "note": note}));
        if text.trim().is_empty() {
            return None;
        }
        Some(self.comment_call(ticket, text))
    }

    /// The ITSM writes for an ordering request that moved from step `from` to `to`: the rules
    /// after `from` up to `to` when both are listed in that order; every rule up to `to` the
    /// first time the request is seen (`from` is `None`: it went through those steps); `to`'s
    /// alone when `from` is not listed or comes later. Each rule's comment first, then its
    /// status change. A step listed with no rule only marks its place in the order.
    pub fn plan_step(
        &self,
        ticket: &str,
        from: Option<&str>,
        to: &str,
        orange: &Value,
    ) -> Vec<ItsmCall> {
        let at = |s: &str| {
            self.steps
                .iter()
                .position(|r| r.step.eq_ignore_ascii_case(s))
        };
        let Some(end) = at(to) else {
            return Vec::new();
        };
        let start = match from.map(at) {
            None => 0,
            Some(Some(i)) if i < end => i + 1,
            Some(_) => end,
        };
        let mut calls = Vec::new();
        for rule in &self.steps[start..=end] {
            if let Some(t) = &rule.comment {
                let text = t.render_value(orange);
                if !text.trim().is_empty() {
                    calls.push(self.comment_call(ticket, text));
                }
            }
            if let Some(r) = &rule.status {
                calls.extend(self.status_call(ticket, r, orange));
            }
        }
        calls
    }

    fn comment_call(&self, ticket: &str, text: String) -> ItsmCall {
        let op = match self.itsm {
            ItsmKind::Servicenow => {
                let field = match self.note_as {
                    NoteAs::Internal => "work_notes",
                    NoteAs::Public => "comments",
                };
                let mut fields = Map::new();
                fields.insert(field.into(), Value::String(text));
                ItsmOp::ServicenowPatch {
                    table: self.table.clone(),
                    sys_id: ticket.to_owned(),
                    fields,
                }
            }
            ItsmKind::Jira => ItsmOp::JiraComment {
                issue: ticket.to_owned(),
                body: text,
                public: self.note_as == NoteAs::Public,
            },
        };
        ItsmCall {
            itsm: self.itsm,
            op,
            fingerprint: None,
        }
    }

    /// The ITSM update that records the Orange id once the link is made, or `None`.
    pub fn plan_link(&self, ticket: &str, orange_id: &str) -> Option<ItsmCall> {
        if self.orange_id_fields.is_empty() {
            return None;
        }
        let fields = render_fields(&self.orange_id_fields, &json!({"id": orange_id}));
        let op = match self.itsm {
            ItsmKind::Servicenow => ItsmOp::ServicenowPatch {
                table: self.table.clone(),
                sys_id: ticket.to_owned(),
                fields,
            },
            ItsmKind::Jira => ItsmOp::JiraEdit {
                issue: ticket.to_owned(),
                fields,
            },
        };
        Some(ItsmCall {
            itsm: self.itsm,
            op,
            fingerprint: None,
        })
    }
}

/// The note text when a mapping gives none.
pub const DEFAULT_NOTE: &str = "[Orange {{ id }}] {{ note.text }}";
