//! [`OrangeClient`]: one tenant's view of Orange's four APIs. It carries out planned
//! [`OrangeCall`]s (resolving Core Information lookups first) and offers the read calls the
//! poller and the CLI use. Settling creates whose outcome was unknown is `guard.rs`; the
//! probes of inferred list behaviours are `probe.rs`.

use std::sync::Arc;

use http::Method;
use serde_json::Value;

use crate::domain::{CallFailure, OrangeApi, OrangeCall, OrangeOp};

use super::attachment::AttachmentSource;
use super::error;
use super::lookup::{COLLECTIONS, LookupCache};
use super::transport::{Credential, Payload};
use super::wire::{self, Page};

/// Items a lookup reads: the first that carries the filtered values wins (`lookup::pick`), so
/// a page rather than one item, in case the filter is not applied.
const LOOKUP_PAGE: &str = "20";

/// What a successful call reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Executed {
    /// The id of the object a create made.
    pub created_id: Option<String>,
}

/// Base paths of the four APIs, joined to the tenant's base URL.
#[derive(Debug, Clone)]
pub struct Paths {
    pub incident: String,
    pub trouble_ticket: String,
    pub core_information: String,
    pub ordering: String,
}

/// One tenant's Orange client.
pub struct OrangeClient {
    pub(super) cred: Arc<Credential>,
    pub(super) base: url::Url,
    pub(super) paths: Paths,
    pub(super) language: Option<String>,
    pub(super) lookups: LookupCache,
    pub(super) attachments: AttachmentSource,
    /// What is assumed where Orange's docs are silent (reference fields, scan bounds).
    pub(super) inferred: crate::config::InferredConfig,
}

/// List filters as the CLI and poller pass them: `(path, value)` equality pairs.
pub type Filters = [(String, String)];

/// One page's query.
#[derive(Debug, Clone, Default)]
pub struct PageQuery<'a> {
    pub filters: &'a Filters,
    pub sort: Option<&'a str>,
    pub offset: Option<u32>,
    pub limit: Option<u32>,
}

impl OrangeClient {
    pub(super) fn url(&self, api: OrangeApi, segments: &[&str]) -> Result<url::Url, CallFailure> {
        let base = match api {
            OrangeApi::Incident => &self.paths.incident,
            OrangeApi::TroubleTicket => &self.paths.trouble_ticket,
            OrangeApi::CoreInformation => &self.paths.core_information,
            OrangeApi::Ordering => &self.paths.ordering,
        };
        let mut url = self.base.clone();
        {
            let mut p = url
                .path_segments_mut()
                .map_err(|()| error::permanent("Orange base URL cannot have a path"))?;
            p.pop_if_empty();
            p.extend(base.split('/').filter(|s| !s.is_empty()));
            p.extend(segments);
        }
        Ok(url)
    }

    pub(super) async fn call(
        &self,
        api: OrangeApi,
        method: Method,
        url: url::Url,
        payload: Payload,
    ) -> Result<super::transport::Answer, CallFailure> {
        self.cred
            .exchange(api.as_str(), method, url, self.language.as_deref(), payload)
            .await
    }

    pub(super) async fn get_json(
        &self,
        api: OrangeApi,
        url: url::Url,
    ) -> Result<Value, CallFailure> {
        wire::json(&self.call(api, Method::GET, url, Payload::None).await?)
    }

    /// Sends `body` and answers the JSON Orange answers with (`null` for an empty body).
    pub(super) async fn send_json(
        &self,
        api: OrangeApi,
        method: Method,
        url: url::Url,
        body: Value,
    ) -> Result<Value, CallFailure> {
        wire::json(&self.call(api, method, url, Payload::Json(body)).await?)
    }

    pub(super) async fn list(&self, api: OrangeApi, url: url::Url) -> Result<Page, CallFailure> {
        wire::page(&self.call(api, Method::GET, url, Payload::None).await?)
    }

    /// Carries out `call`; `linked` is the Orange id of the ticket's object, required by
    /// every operation that is not a create.
    pub async fn execute(
        &self,
        call: &OrangeCall,
        linked: Option<&str>,
    ) -> Result<Executed, CallFailure> {
        let linked = || {
            linked.ok_or_else(|| {
                error::permanent(format!("{} needs the ticket's Orange id", call.op.name()))
            })
        };
        let mut body = call.body.clone();
        for l in &call.lookups {
            self.resolve_lookup(l, &mut body).await?;
        }
        // Every operation but the upload sends the rendered body as JSON: (API, method, path).
        let (api, method, segments): (_, _, &[&str]) = match &call.op {
            OrangeOp::CreateIncident => (OrangeApi::Incident, Method::POST, &["incidents"]),
            OrangeOp::UpdateIncident => (
                OrangeApi::Incident,
                Method::PATCH,
                &["incidents", linked()?],
            ),
            OrangeOp::AddIncidentNote => (
                OrangeApi::Incident,
                Method::POST,
                &["incidents", linked()?, "notes"],
            ),
            OrangeOp::UploadIncidentAttachment {
                url,
                filename,
                content_type,
            } => {
                let id = linked()?;
                return self
                    .upload_from_itsm(id, url, filename, content_type.as_deref())
                    .await;
            }
            OrangeOp::CreateTroubleTicket => {
                (OrangeApi::TroubleTicket, Method::POST, &["troubleTickets"])
            }
            OrangeOp::CommentTroubleTicket => (
                OrangeApi::TroubleTicket,
                Method::PATCH,
                &["troubleTickets", linked()?],
            ),
            OrangeOp::SubmitOrder => (OrangeApi::Ordering, Method::POST, &["requests"]),
        };
        let url = self.url(api, segments)?;
        let payload = Payload::Json(body);
        let answer = self.call(api, method, url, payload).await?;
        if !call.op.creates() {
            return Ok(Executed::default());
        }
        let v = wire::json(&answer)?;
        let id = wire::created_id(&v)
            .ok_or_else(|| error::unreadable(answer.status, "no id in the create answer"))?;
        Ok(Executed {
            created_id: Some(id),
        })
    }

    /// Copies an ITSM attachment (`url`) to incident `id` as a multipart upload; a download
    /// cut off at the size limit fails as too big rather than as Orange's answer.
    async fn upload_from_itsm(
        &self,
        id: &str,
        url: &str,
        filename: &str,
        content_type: Option<&str>,
    ) -> Result<Executed, CallFailure> {
        let target = self.url(OrangeApi::Incident, &["incidents", id, "attachments"])?;
        let download = self.attachments.open(url, filename, content_type).await?;
        let over_limit = download.over_limit.clone();
        let mut form = Some(download.form);
        let payload = Payload::Multipart(Box::new(move || form.take()));
        match self
            .call(OrangeApi::Incident, Method::POST, target, payload)
            .await
        {
            Ok(_) => Ok(Executed::default()),
            Err(_) if over_limit.load(std::sync::atomic::Ordering::Acquire) => Err(
                super::attachment::too_big_failure(self.attachments.max_bytes),
            ),
            Err(f) => Err(f),
        }
    }

    async fn resolve_lookup(
        &self,
        l: &crate::domain::Lookup,
        body: &mut Value,
    ) -> Result<(), CallFailure> {
        if !COLLECTIONS.contains(&l.collection.as_str()) {
            return Err(error::permanent(format!(
                "unknown Core Information collection {:?}",
                l.collection
            )));
        }
        let key = LookupCache::key(l);
        let found = self
            .lookups
            .get_or_fetch(&key, || async {
                let mut url = self.url(OrangeApi::CoreInformation, &[&l.collection])?;
                url.query_pairs_mut()
                    .extend_pairs(l.filters.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .append_pair("limit", LOOKUP_PAGE);
                let page = self.list(OrangeApi::CoreInformation, url).await?;
                Ok(super::lookup::pick(&page.items, l))
            })
            .await?;
        let value = match (found, &l.default) {
            (Some(v), _) => v,
            (None, Some(Value::Null)) => return Ok(()),
            (None, Some(d)) => d.clone(),
            (None, None) => {
                return Err(error::permanent(format!(
                    "Core Information lookup in {} matched nothing ({})",
                    l.collection,
                    l.filters
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        wire::set_pointer(body, &l.target, value)
            .map_err(|e| error::permanent(format!("lookup target: {e}")))
    }

    pub(super) fn list_url(
        &self,
        api: OrangeApi,
        collection: &str,
        filters: &Filters,
        sort: Option<&str>,
        offset: Option<u32>,
        limit: Option<u32>,
    ) -> Result<url::Url, CallFailure> {
        let mut url = self.url(api, &[collection])?;
        {
            let mut q = url.query_pairs_mut();
            q.extend_pairs(filters.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if let Some(s) = sort {
                q.append_pair("sort", s);
            }
            if let Some(o) = offset {
                q.append_pair("offset", &o.to_string());
            }
            if let Some(l) = limit {
                q.append_pair("limit", &l.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// One page of `GET {api}/{collection}` as `q` asks.
    pub(super) async fn list_query(
        &self,
        api: OrangeApi,
        collection: &str,
        q: &PageQuery<'_>,
    ) -> Result<Page, CallFailure> {
        let url = self.list_url(api, collection, q.filters, q.sort, q.offset, q.limit)?;
        self.list(api, url).await
    }

    /// `GET /incidents` with equality filters (`priority=P1`, `location.address.country=FR`),
    /// `sort` (`-createdAt`), `offset` and `limit`.
    pub async fn list_incidents(&self, q: &PageQuery<'_>) -> Result<Page, CallFailure> {
        self.list_query(OrangeApi::Incident, "incidents", q).await
    }

    pub async fn get_incident(&self, id: &str) -> Result<Value, CallFailure> {
        let url = self.url(OrangeApi::Incident, &["incidents", id])?;
        self.get_json(OrangeApi::Incident, url).await
    }

    pub async fn list_notes(&self, id: &str) -> Result<Vec<Value>, CallFailure> {
        let url = self.url(OrangeApi::Incident, &["incidents", id, "notes"])?;
        Ok(self.list(OrangeApi::Incident, url).await?.items)
    }

    pub async fn get_trouble_ticket(&self, id: &str) -> Result<Value, CallFailure> {
        let url = self.url(OrangeApi::TroubleTicket, &["troubleTickets", id])?;
        Ok(wire::unwrap_ticket(
            self.get_json(OrangeApi::TroubleTicket, url).await?,
        ))
    }

    /// Wholesale search (`ctxid=TCKTNG&sctxid=wse` added) with the documented filters
    /// (`status`, `orangeServiceNumber`, `creationDateFrom`, `sortColumn`, …).
    pub async fn search_trouble_tickets(&self, filters: &Filters) -> Result<Page, CallFailure> {
        Ok(self.search_page(filters).await?.0)
    }

    /// `GET {api}/status` (and the credential's token on the way): doctor's read-only check.
    pub async fn api_status(&self, api: OrangeApi) -> Result<Value, CallFailure> {
        let url = self.url(api, &["status"])?;
        self.get_json(api, url).await
    }

    /// `GET {api}/version`.
    pub async fn api_version(&self, api: OrangeApi) -> Result<Value, CallFailure> {
        let url = self.url(api, &["version"])?;
        self.get_json(api, url).await
    }

    /// Fetches (or reuses) the credential's OAuth token, without any API call.
    pub async fn check_token(&self) -> Result<(), CallFailure> {
        self.cred.tokens.get().await.map(|_| ())
    }

    /// `POST /requests`: answers the created request (its `id` at least).
    pub async fn submit_order(&self, body: Value) -> Result<Value, CallFailure> {
        let url = self.url(OrangeApi::Ordering, &["requests"])?;
        self.send_json(OrangeApi::Ordering, Method::POST, url, body)
            .await
    }

    pub async fn get_order(&self, id: &str) -> Result<Value, CallFailure> {
        let url = self.url(OrangeApi::Ordering, &["requests", id])?;
        self.get_json(OrangeApi::Ordering, url).await
    }

    /// `GET /requests`, filtered, sorted and paged as [`Self::list_incidents`].
    pub async fn list_orders(&self, q: &PageQuery<'_>) -> Result<Page, CallFailure> {
        self.list_query(OrangeApi::Ordering, "requests", q).await
    }
}
