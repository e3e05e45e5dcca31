//! The Incident API calls beyond what the dispatcher plans (`client.rs`): creating and
//! updating from a body given by hand, notes, attachments read and uploaded from a local file,
//! freeze periods and aggregation. The command-line client (`cli/orange/`) uses them; they go
//! through the same credential, token, rate limiter and error classification as the gateway.

use bytes::Bytes;
use http::Method;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::domain::{CallFailure, OrangeApi};

use super::client::{Filters, OrangeClient};
use super::error;
use super::transport::Payload;
use super::wire::Page;

const API: OrangeApi = OrangeApi::Incident;

/// A downloaded attachment.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl OrangeClient {
    /// `POST /incidents`: answers the created incident (its `id` at least).
    pub async fn create_incident(&self, body: Value) -> Result<Value, CallFailure> {
        let url = self.url(API, &["incidents"])?;
        self.send_json(API, Method::POST, url, body).await
    }

    /// `PATCH /incidents/{id}` with the fields to change.
    pub async fn update_incident(&self, id: &str, body: Value) -> Result<Value, CallFailure> {
        let url = self.url(API, &["incidents", id])?;
        self.send_json(API, Method::PATCH, url, body).await
    }

    /// `POST /incidents/{id}/notes`.
    pub async fn add_note(&self, id: &str, body: Value) -> Result<Value, CallFailure> {
        let url = self.url(API, &["incidents", id, "notes"])?;
        self.send_json(API, Method::POST, url, body).await
    }

    /// `GET /incidents/{id}/attachments`: the attachments' descriptions.
    pub async fn list_attachments(&self, id: &str) -> Result<Page, CallFailure> {
        self.list_below(id, "attachments").await
    }

    /// `GET /incidents/{id}/attachments/{attachment}`: the file itself.
    pub async fn download_attachment(
        &self,
        id: &str,
        attachment: &str,
    ) -> Result<AttachmentFile, CallFailure> {
        let url = self.url(API, &["incidents", id, "attachments", attachment])?;
        let answer = self.call(API, Method::GET, url, Payload::None).await?;
        Ok(AttachmentFile {
            content_type: answer
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: answer.body,
        })
    }

    /// `POST /incidents/{id}/attachments` as `multipart/form-data` with one `file` part.
    /// Refused before sending when `body` is over `delivery.max_attachment_bytes`, the limit
    /// the gateway applies to the attachments it copies.
    pub async fn upload_attachment(
        &self,
        id: &str,
        filename: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Value, CallFailure> {
        let max = self.attachments.max_bytes;
        if body.len() as u64 > max {
            return Err(super::attachment::too_big_failure(max));
        }
        // Checked once here so that building the form for a retry cannot fail.
        Part::bytes(Vec::new())
            .mime_str(content_type)
            .map_err(|e| error::permanent(format!("content type {content_type:?}: {e}")))?;
        let url = self.url(API, &["incidents", id, "attachments"])?;
        let (filename, content_type) = (filename.to_owned(), content_type.to_owned());
        let make = move || {
            let part =
                Part::stream_with_length(reqwest::Body::from(body.clone()), body.len() as u64)
                    .file_name(filename.clone())
                    .mime_str(&content_type)
                    .ok()?;
            Some(Form::new().part("file", part))
        };
        let answer = self
            .call(API, Method::POST, url, Payload::Multipart(Box::new(make)))
            .await?;
        super::wire::json(&answer)
    }

    /// `GET /incidents/{id}/freezePeriods`.
    pub async fn list_freeze_periods(&self, id: &str) -> Result<Page, CallFailure> {
        self.list_below(id, "freezePeriods").await
    }

    /// `GET /incidents/{id}/{what}`.
    async fn list_below(&self, id: &str, what: &str) -> Result<Page, CallFailure> {
        let url = self.url(API, &["incidents", id, what])?;
        self.list(API, url).await
    }

    /// `GET /aggregation?groupBy=…&<filters>`: one row per group with its `count`.
    pub async fn aggregate_incidents(
        &self,
        group_by: &str,
        filters: &Filters,
    ) -> Result<Page, CallFailure> {
        let mut all = vec![("groupBy".to_owned(), group_by.to_owned())];
        all.extend(filters.iter().cloned());
        let url = self.list_url(API, "aggregation", &all, None, None, None)?;
        self.list(API, url).await
    }
}
