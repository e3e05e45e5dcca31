//! The poller's [`OrangeReader`] over every tenant's [`OrangeClient`]: the same token and the
//! same rate budget as the dispatcher's calls.
//!
//! Incidents and ordering requests are listed newest first with `sort=-lastUpdateDate` and the
//! range filter `lastUpdateDate>=<watermark>`; whether Orange honours both is asked of the
//! read-only probes in [`super::probe`] (the poller's `auto` mode). Wholesale trouble tickets
//! have no such listing: they are read one by one, with their notes embedded.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::browse::PageQuery;
use super::error::permanent;
use super::probe::Verdict;
use super::{OrangeClient, OrangeClients};
use crate::domain::{CallFailure, OrangeApi, TenantId};
use crate::worker::poller::{Changed, OrangeNote, OrangeReader, ScanSupport, Support};

/// Sort order of change scans.
const NEWEST_FIRST: &str = "-lastUpdateDate";
/// Range filter on the last update (`lastUpdateDate>=…`): the key carries the `>`.
const SINCE_FILTER: &str = "lastUpdateDate>";

impl OrangeClients {
    fn reader(&self, tenant: &TenantId) -> Result<Arc<OrangeClient>, CallFailure> {
        self.get(tenant)
            .ok_or_else(|| permanent(format!("no Orange client for tenant {tenant}")))
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An incident or ordering request as a [`Changed`]; `None` without an id.
fn changed(object: Value, notes: Option<Vec<OrangeNote>>) -> Option<Changed> {
    let id = id_of(&object)?;
    let last_update = str_at(&object, "lastUpdateDate")
        .or_else(|| str_at(&object, "createdAt"))
        .unwrap_or_default()
        .to_owned();
    let status = str_at(&object, "status").map(str::to_owned);
    Some(Changed {
        id,
        last_update,
        status,
        object,
        notes,
    })
}

/// Orange-authored: `author.origin` (or `origin`) is `ORANGE`. Anything else — customer notes,
/// which the gateway itself sent, or notes with no origin — is not pushed back by default.
pub fn orange_authored(note: &Value) -> bool {
    note.pointer("/author/origin")
        .or_else(|| note.get("origin"))
        .and_then(Value::as_str)
        .is_some_and(|o| o.eq_ignore_ascii_case("ORANGE"))
}

fn incident_note(v: Value) -> Option<OrangeNote> {
    Some(OrangeNote {
        id: id_of(&v)?,
        orange_authored: orange_authored(&v),
        body: v,
    })
}

/// Wholesale notes carry no id: one is made from their date and text.
fn ticket_notes(ticket: &Value) -> Vec<OrangeNote> {
    let Some(notes) = ticket.get("note").and_then(Value::as_array) else {
        return Vec::new();
    };
    notes
        .iter()
        .map(|n| {
            let key = format!(
                "{}|{}",
                str_at(n, "date").unwrap_or_default(),
                str_at(n, "text").unwrap_or_default()
            );
            let id = format!(
                "tt-note:{}",
                &hex::encode(Sha256::digest(key.as_bytes()))[..16]
            );
            // Wholesale notes written by Orange are "Outward customer comments" (towards us).
            let orange = n.get("author").is_none()
                && str_at(n, "type").is_some_and(|t| t.starts_with("Outward"));
            OrangeNote {
                id,
                orange_authored: orange || orange_authored(n),
                body: n.clone(),
            }
        })
        .collect()
}

/// Reads tried at most this many times within a cycle.
const READ_TRIES: u32 = 4;

/// Runs a read again on a retryable failure (honouring `Retry-After`, at most a few seconds),
/// so one transient fault does not cost the whole cycle: a cycle whose reads fail keeps its
/// watermark and starts over at the next interval.
async fn retried<T, F, Fut>(mut read: F) -> Result<T, CallFailure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallFailure>>,
{
    let mut tries = 1;
    loop {
        match read().await {
            Err(f) if f.retryable() && tries < READ_TRIES => {
                let wait = f
                    .retry_after()
                    .unwrap_or(std::time::Duration::from_millis(50 << tries))
                    .min(std::time::Duration::from_secs(5));
                tokio::time::sleep(wait).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

#[async_trait]
impl OrangeReader for OrangeClients {
    async fn changed_page(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        since: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<Changed>, CallFailure> {
        let c = self.reader(tenant)?;
        let filters: Vec<(String, String)> = since
            .map(|s| vec![(SINCE_FILTER.to_owned(), s.to_owned())])
            .unwrap_or_default();
        let q = PageQuery {
            filters: &filters,
            sort: Some(NEWEST_FIRST),
            offset: Some(offset),
            limit: Some(limit),
        };
        let page = match api {
            OrangeApi::Incident => retried(|| c.list_incidents(&q)).await?,
            OrangeApi::Ordering => retried(|| c.list_orders(&q)).await?,
            other => {
                return Err(permanent(format!(
                    "{} cannot be listed by last update",
                    other.as_str()
                )));
            }
        };
        let embedded = (api == OrangeApi::Ordering).then(Vec::new);
        Ok(page
            .items
            .into_iter()
            .filter_map(|o| changed(o, embedded.clone()))
            .collect())
    }

    async fn notes(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        id: &str,
    ) -> Result<Vec<OrangeNote>, CallFailure> {
        match api {
            OrangeApi::Incident => {
                let c = self.reader(tenant)?;
                let notes = retried(|| c.list_notes(id)).await?;
                Ok(notes.into_iter().filter_map(incident_note).collect())
            }
            _ => Ok(Vec::new()),
        }
    }

    async fn get(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
        id: &str,
    ) -> Result<Option<Changed>, CallFailure> {
        let c = self.reader(tenant)?;
        let found = match api {
            OrangeApi::Incident => retried(|| c.get_incident(id)).await,
            OrangeApi::Ordering => retried(|| c.get_order(id)).await,
            OrangeApi::TroubleTicket => retried(|| c.get_trouble_ticket(id)).await,
            OrangeApi::CoreInformation => return Ok(None),
        };
        let object = match found {
            Ok(v) => v,
            Err(e) if e.http_status == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(match api {
            OrangeApi::TroubleTicket => {
                let notes = ticket_notes(&object);
                changed(object, Some(notes))
            }
            OrangeApi::Ordering => changed(object, Some(Vec::new())),
            _ => changed(object, None),
        })
    }

    async fn scan_support(
        &self,
        tenant: &TenantId,
        api: OrangeApi,
    ) -> Result<ScanSupport, CallFailure> {
        let c = self.reader(tenant)?;
        let sort = retried(|| c.probe_sort(api, STAMP_FIELD)).await?;
        let range = retried(|| c.probe_range_filter(api, STAMP_FIELD)).await?;
        // A refusal ends a probe at its first call, too little data at its first read.
        let calls = |v: &Verdict| match v {
            Verdict::Rejected(_) => 1,
            _ => 2,
        };
        let calls = calls(&sort) + calls(&range);
        tracing::debug!(tenant = %tenant, orange.api = api.as_str(), orange.sort = %sort, orange.range_filter = %range, "scan probes");
        Ok(ScanSupport {
            sort: support(&sort),
            range: support(&range),
            calls,
        })
    }
}

/// The field the scan sorts and filters on.
const STAMP_FIELD: &str = "lastUpdateDate";

fn support(v: &Verdict) -> Support {
    match v {
        Verdict::Honoured => Support::Honoured,
        Verdict::Ignored => Support::Ignored,
        Verdict::Rejected(_) => Support::Rejected,
        Verdict::Undecidable(_) => Support::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_notes_whose_origin_is_orange_are_orange_authored() {
        assert!(orange_authored(
            &json!({"author": {"origin": "ORANGE", "name": "NOC"}})
        ));
        assert!(orange_authored(&json!({"origin": "orange"})));
        assert!(!orange_authored(&json!({"author": {"origin": "CUSTOMER"}})));
        assert!(!orange_authored(&json!({"text": "no origin"})));
    }

    #[test]
    fn wholesale_notes_get_stable_ids_from_date_and_text() {
        let t = json!({"note": [
            {"date": "2026-01-01T00:00:00Z", "text": "Ticket is now ongoing", "type": "Outward customer comments"},
            {"date": "2026-01-01T00:00:01Z", "text": "from us", "type": "Inward customer comments"}]});
        let a = ticket_notes(&t);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].id, ticket_notes(&t)[0].id);
        assert_ne!(a[0].id, a[1].id);
        assert!(a[0].orange_authored);
        assert!(!a[1].orange_authored);
    }

    #[test]
    fn an_object_without_an_id_is_skipped_and_the_stamp_falls_back_to_creation() {
        assert!(changed(json!({"status": "X"}), None).is_none());
        let c = changed(
            json!({"id": 7, "createdAt": "2026-01-01T00:00:00.000Z"}),
            None,
        )
        .unwrap();
        assert_eq!(
            (c.id.as_str(), c.last_update.as_str()),
            ("7", "2026-01-01T00:00:00.000Z")
        );
    }
}
