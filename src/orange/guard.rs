//! The duplicate guard: after a create whose outcome is unknown (the answer was lost after
//! Orange may have applied it), find the object it made, or prove there is none, without
//! trusting any inferred list behaviour.
//!
//! An object is ours only if its OWN reference field (`orange.inferred.*_reference_field`)
//! equals the ticket's reference. Two reads, both verified object by object:
//! 1. the reference filter (`externalReference=…`), paged to the end: it finds the object
//!    fast when Orange applies it; when Orange ignores it the answer holds strangers' objects,
//!    which the check skips; when Orange rejects it, nothing is learnt;
//! 2. the objects created since the first send, newest first (`sort=-createdAt`, which the
//!    seeds document; Wholesale: `sortColumn=START_DATE&sortAsc=false&creationDateFrom=`),
//!    stopping at the first one created before the send minus the clock-skew allowance.
//!
//! [`CreateLookup::Unknown`] when neither can decide (the scan runs out of pages, the sort is
//! not honoured, or an object created in the window carries no reference, so it could be
//! ours with the reference dropped): the dispatcher dead-letters the delivery as
//! `create-outcome-unknown`, never links an unverified object, never creates twice blindly.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use crate::domain::{CallFailure, OrangeApi, Timestamp};

use super::client::OrangeClient;
use super::probe::{field_str, is_query_refusal};

pub use crate::domain::CREATE_OUTCOME_UNKNOWN;

/// Where the creation time of each API's objects is.
const CREATED_AT: &str = "createdAt";
const TICKET_CREATED_AT: &str = "creationDate";

/// What the guard found out about a create whose outcome was unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateLookup {
    /// The object the create made (its own reference field says so).
    Found(String),
    /// Proven absent: the create was not applied; sending it again is safe.
    Absent,
    /// Cannot tell; why.
    Unknown(String),
}

/// One object as the guard classifies it.
enum Seen {
    Ours(String),
    Foreign,
    Unlabelled,
}

impl OrangeClient {
    /// The field that carries the ticket's reference on `api`'s objects.
    pub fn reference_field(&self, api: OrangeApi) -> Option<&str> {
        let i = &self.inferred;
        match api {
            OrangeApi::Incident => Some(&i.incident_reference_field),
            OrangeApi::TroubleTicket => Some(&i.trouble_ticket_reference_field),
            OrangeApi::Ordering => Some(&i.order_reference_field),
            OrangeApi::CoreInformation => None,
        }
    }

    fn classify(&self, field: &str, reference: &str, o: &Value) -> Seen {
        match field_str(o, field) {
            Some(r) if r == reference => match super::wire::created_id(o) {
                Some(id) => Seen::Ours(id),
                None => Seen::Unlabelled,
            },
            Some(r) if !r.trim().is_empty() => Seen::Foreign,
            _ => Seen::Unlabelled,
        }
    }

    /// Settles a create of `api` carrying `reference` whose outcome is unknown; no send of
    /// it happened before `sent_after`.
    pub async fn find_created(
        &self,
        api: OrangeApi,
        reference: &str,
        sent_after: Timestamp,
    ) -> Result<CreateLookup, CallFailure> {
        let Some(field) = self.reference_field(api).map(str::to_owned) else {
            return Ok(CreateLookup::Unknown(format!(
                "{} objects carry no reference",
                api.as_str()
            )));
        };
        if let Some(id) = self.find_by_external_ref(api, reference).await? {
            return Ok(CreateLookup::Found(id));
        }
        self.scan_created(api, &field, reference, sent_after).await
    }

    /// The object whose own reference field equals `reference`, read through the reference
    /// filter and paged to the end; `None` when no listed object carries it (or Orange
    /// refuses the filter). Never the first item of an unverified list.
    pub async fn find_by_external_ref(
        &self,
        api: OrangeApi,
        reference: &str,
    ) -> Result<Option<String>, CallFailure> {
        let Some(field) = self.reference_field(api).map(str::to_owned) else {
            return Ok(None);
        };
        let size = self.inferred.created_scan_page_size;
        let f = [(field.clone(), reference.to_owned())];
        for n in 0..self.inferred.created_scan_max_pages {
            let page = match self.list_page(api, &f, None, n * size, size).await {
                Ok(p) => p,
                Err(e) if is_query_refusal(&e) => {
                    tracing::info!(orange.api = api.as_str(), orange.field = %field,
                        "reference filter refused; scanning recent creations instead");
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let ours = page
                .items
                .iter()
                .find_map(|o| match self.classify(&field, reference, o) {
                    Seen::Ours(id) => Some(id),
                    _ => None,
                });
            if ours.is_some() {
                return Ok(ours);
            }
            if (page.items.len() as u32) < size {
                break;
            }
        }
        Ok(None)
    }

    async fn scan_created(
        &self,
        api: OrangeApi,
        field: &str,
        reference: &str,
        sent_after: Timestamp,
    ) -> Result<CreateLookup, CallFailure> {
        let skew = time::Duration::seconds(self.inferred.created_scan_skew_secs as i64);
        let cutoff = sent_after - skew;
        let size = self.inferred.created_scan_page_size;
        let (created_field, filters, sort) = match api {
            OrangeApi::TroubleTicket => {
                let from = wholesale_stamp(cutoff);
                (
                    TICKET_CREATED_AT,
                    vec![
                        ("sortColumn".to_owned(), "START_DATE".to_owned()),
                        ("sortAsc".to_owned(), "false".to_owned()),
                        ("creationDateFrom".to_owned(), from),
                    ],
                    None,
                )
            }
            _ => (CREATED_AT, Vec::new(), Some("-createdAt")),
        };
        let mut unlabelled = 0usize;
        // Pages are read by offset while other creates may land: an object created meanwhile
        // pushes the list down, so a page may start with objects the last one ended with
        // (skipped by id) or with one newer than them. Order is checked within a page, which
        // is enough to see a list that is not sorted newest first at all.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for n in 0..self.inferred.created_scan_max_pages {
            let mut previous: Option<Timestamp> = None;
            let page = match self.list_page(api, &filters, sort, n * size, size).await {
                Ok(p) => p,
                Err(e) if is_query_refusal(&e) => {
                    return Ok(CreateLookup::Unknown(format!(
                        "Orange refused the newest-first list of {}: {}",
                        api.as_str(),
                        e.message
                    )));
                }
                Err(e) => return Err(e),
            };
            for o in &page.items {
                if let Some(id) = super::wire::created_id(o)
                    && !seen.insert(id)
                {
                    continue;
                }
                let Some(created) =
                    field_str(o, created_field).and_then(|s| Timestamp::parse(&s, &Rfc3339).ok())
                else {
                    return Ok(CreateLookup::Unknown(format!(
                        "a listed {} has no readable {created_field}",
                        api.as_str()
                    )));
                };
                if previous.is_some_and(|p| created > p) {
                    return Ok(CreateLookup::Unknown(format!(
                        "the newest-first list of {} is not in {created_field} order",
                        api.as_str()
                    )));
                }
                previous = Some(created);
                if created < cutoff {
                    return Ok(verdict(api, field, unlabelled));
                }
                match self.classify(field, reference, o) {
                    Seen::Ours(id) => return Ok(CreateLookup::Found(id)),
                    Seen::Foreign => {}
                    Seen::Unlabelled => unlabelled += 1,
                }
            }
            if (page.items.len() as u32) < size {
                return Ok(verdict(api, field, unlabelled));
            }
        }
        Ok(CreateLookup::Unknown(format!(
            "more than {} {} were created since the first send ({} pages of {size})",
            self.inferred.created_scan_max_pages * size,
            api.as_str(),
            self.inferred.created_scan_max_pages
        )))
    }
}

/// `YYYY-MM-DDThh:mm:ss.mssZ` in UTC, the format the Wholesale docs give `creationDateFrom`.
fn wholesale_stamp(t: Timestamp) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// Every object created in the window was read: absent, unless one carried no reference.
fn verdict(api: OrangeApi, field: &str, unlabelled: usize) -> CreateLookup {
    if unlabelled == 0 {
        CreateLookup::Absent
    } else {
        CreateLookup::Unknown(format!(
            "{unlabelled} {} created since the first send carry no {field}: one may be ours \
             with the reference dropped",
            api.as_str()
        ))
    }
}
