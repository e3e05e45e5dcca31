//! Applying a compiled mapping to one event: keys, routes, calls, body validation. Pure.

use serde_json::{Map, Value};

use super::cond::{When, changed_fields};
use super::path::Target;
use super::rule::{Produced, Rule};
use super::{MapCause, MapError, Mapped, Mapping, Scope, keys, schemas};
use crate::domain::{OrangeCall, OrangeOp};

/// `keys:` overrides; a rule that yields nothing (or `skip`) keeps the default key.
#[derive(Debug, Default)]
pub struct KeyRules {
    pub event_type: Option<Rule>,
    pub ticket: Option<Rule>,
    pub dedupe: Option<Rule>,
}

/// The operation a call performs, before its per-event values are known.
#[derive(Debug)]
pub enum CallKind {
    CreateIncident,
    UpdateIncident,
    AddNote,
    UploadAttachment(Box<AttachmentRules>),
    CreateTroubleTicket,
    CommentTroubleTicket,
    SubmitOrder,
}

impl CallKind {
    /// The body field that carries the ITSM reference on create calls (the decided contract
    /// with the Orange client and simulator).
    fn reference_field(&self) -> Option<&'static str> {
        match self {
            Self::CreateIncident => Some("externalReference"),
            Self::CreateTroubleTicket => Some("externalId"),
            Self::SubmitOrder => Some("customerReference"),
            _ => None,
        }
    }
}

/// Where an attachment's download URL, name and type come from.
#[derive(Debug)]
pub struct AttachmentRules {
    pub url: Rule,
    pub filename: Rule,
    pub content_type: Option<Rule>,
}

#[derive(Debug)]
pub struct Call {
    pub kind: CallKind,
    pub set: Vec<(Target, Rule)>,
    pub external_ref: Option<Rule>,
    /// `routes[i].then[j]`, for body validation errors.
    pub at: String,
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub when: When,
    pub then: Vec<Call>,
    /// A matched route with `skip:` sends nothing and says why.
    pub skip: Option<String>,
    /// Stop looking at further routes once this one matched.
    pub stop: bool,
}

fn key_override(rule: &Option<Rule>, scope: &Scope<'_>) -> Result<Option<String>, MapError> {
    let Some(rule) = rule else { return Ok(None) };
    Ok(match rule.eval(scope, "")? {
        Produced::Value(Value::String(s)) => Some(s),
        Produced::Value(Value::Null) | Produced::Skip | Produced::Lookup(_) => None,
        // A number copied from the event keeps its exact text (a key is an identity).
        Produced::Value(Value::Number(n)) => Some(match &rule.source {
            super::rule::Source::Path(p) if p.root == super::path::Root::Body => {
                super::rawnum::number_text(&n, scope.raw, p.segs.iter().map(|s| s.text()))
            }
            _ => n.to_string(),
        }),
        Produced::Value(v) => Some(v.to_string()),
    })
}

/// The default keys with the mapping's `keys:` overrides; the first override that fails is
/// returned with the keys computed so far.
fn keys(
    m: &Mapping,
    inc: &super::Incoming<'_>,
) -> Result<keys::EventKeys, Box<(keys::EventKeys, MapError)>> {
    let mut k = keys::default_keys(inc.kind, inc.headers, inc.body, inc.raw);
    match key_override(&m.keys.event_type, &scope_of(inc, &k)) {
        Ok(Some(e)) => k.event_type = e,
        Ok(None) => {}
        Err(e) => return Err(Box::new((k, e))),
    }
    match key_override(&m.keys.ticket, &scope_of(inc, &k)) {
        Ok(Some(t)) => k.ticket = Some(t),
        Ok(None) => {}
        Err(e) => return Err(Box::new((k, e))),
    }
    match key_override(&m.keys.dedupe, &scope_of(inc, &k)) {
        Ok(Some(d)) => k.dedupe = d,
        Ok(None) => {}
        Err(e) => return Err(Box::new((k, e))),
    }
    Ok(k)
}

/// The keys of an event even when an override fails (see [`Mapping::keys`]).
pub fn keys_of(m: &Mapping, inc: &super::Incoming<'_>) -> keys::EventKeys {
    keys(m, inc).unwrap_or_else(|b| b.0)
}

pub fn apply(m: &Mapping, inc: &super::Incoming<'_>) -> Result<Mapped, MapError> {
    let k = keys(m, inc).map_err(|b| b.1)?;
    let scope = Scope {
        body: inc.body,
        event_type: &k.event_type,
        ticket: k.ticket.as_deref(),
        headers: Some(inc.headers),
        raw: Some(inc.raw),
    };
    let changed = changed_fields(inc.body);
    let mut calls = Vec::new();
    let mut skipped = None;
    let mut taken = Vec::new();
    for route in &m.routes {
        if !route.when.holds(&scope, &changed) {
            continue;
        }
        taken.push(route.name.clone());
        if let Some(why) = &route.skip {
            skipped = Some(format!("route `{}`: {why}", route.name));
            break;
        }
        for call in &route.then {
            calls.push(build(call, &scope)?);
        }
        if route.stop {
            break;
        }
    }
    let unrouted = calls.is_empty() && skipped.is_none();
    if unrouted {
        skipped = Some(format!("no route matches event `{}`", k.event_type));
    }
    Ok(Mapped {
        dedupe_key: k.dedupe,
        ticket: k.ticket,
        event_type: k.event_type,
        calls,
        skipped,
        unrouted,
        routes: taken,
        number: k.number,
    })
}

fn scope_of<'a>(inc: &super::Incoming<'a>, k: &'a keys::EventKeys) -> Scope<'a> {
    Scope {
        body: inc.body,
        event_type: &k.event_type,
        ticket: k.ticket.as_deref(),
        headers: Some(inc.headers),
        raw: Some(inc.raw),
    }
}

fn text_of(rule: &Rule, scope: &Scope<'_>) -> Result<Option<String>, MapError> {
    Ok(match rule.eval(scope, "")? {
        Produced::Value(Value::String(s)) => Some(s),
        Produced::Value(Value::Null) | Produced::Skip | Produced::Lookup(_) => None,
        Produced::Value(v) => Some(v.to_string()),
    })
}

fn build(call: &Call, scope: &Scope<'_>) -> Result<OrangeCall, MapError> {
    let mut body = Value::Object(Map::new());
    let mut lookups = Vec::new();
    for (target, rule) in &call.set {
        match rule.eval(scope, &target.pointer())? {
            Produced::Skip => {}
            Produced::Lookup(l) => lookups.push(l),
            Produced::Value(v) => target.set(&mut body, v).map_err(|message| MapError {
                pointer: String::new(),
                rule: rule.at.clone(),
                message,
                cause: MapCause::Rule,
            })?,
        }
    }
    let missing = |what: &str, rule: &Rule| MapError {
        pointer: String::new(),
        rule: rule.at.clone(),
        message: format!("the attachment {what} is empty"),
        cause: MapCause::Rule,
    };
    let op = match &call.kind {
        CallKind::CreateIncident => OrangeOp::CreateIncident,
        CallKind::UpdateIncident => OrangeOp::UpdateIncident,
        CallKind::AddNote => OrangeOp::AddIncidentNote,
        CallKind::CreateTroubleTicket => OrangeOp::CreateTroubleTicket,
        CallKind::CommentTroubleTicket => OrangeOp::CommentTroubleTicket,
        CallKind::SubmitOrder => OrangeOp::SubmitOrder,
        CallKind::UploadAttachment(a) => OrangeOp::UploadIncidentAttachment {
            url: text_of(&a.url, scope)?.ok_or_else(|| missing("url", &a.url))?,
            filename: text_of(&a.filename, scope)?
                .ok_or_else(|| missing("filename", &a.filename))?,
            content_type: match &a.content_type {
                Some(r) => text_of(r, scope)?,
                None => None,
            },
        },
    };
    let external_ref = match &call.external_ref {
        Some(r) => text_of(r, scope)?,
        None => call
            .kind
            .reference_field()
            .and_then(|f| body.get(f))
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    schemas::check_body(&op, &body).map_err(|message| MapError {
        pointer: String::new(),
        rule: call.at.clone(),
        message,
        cause: MapCause::OrangeSchema,
    })?;
    Ok(OrangeCall {
        op,
        body,
        external_ref,
        lookups,
    })
}
