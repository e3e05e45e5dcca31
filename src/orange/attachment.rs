//! Attachments copied from an ITSM to an Orange incident: downloaded with the tenant's ITSM
//! credentials (only ever sent to that ITSM's own origin), size-checked, and streamed into a
//! multipart upload.

use futures_util::StreamExt;
use reqwest::multipart::{Form, Part};

use crate::config::{ItsmConfig, OutboundAuth};
use crate::domain::{CallFailure, FailureClass, classify_status};

use super::error;

/// Where attachments come from: the tenant's ITSMs and their credentials.
pub struct AttachmentSource {
    pub http: reqwest::Client,
    pub itsm: ItsmConfig,
    pub max_bytes: u64,
}

impl AttachmentSource {
    /// Credentials for `url`, when it is on one of the tenant's ITSMs.
    fn auth_for(&self, url: &url::Url) -> Option<&OutboundAuth> {
        let same = |base: &url::Url| base.origin() == url.origin();
        if let Some(sn) = &self.itsm.servicenow
            && same(&sn.base_url)
        {
            return Some(&sn.auth);
        }
        if let Some(j) = &self.itsm.jira
            && same(&j.base_url)
        {
            return Some(&j.auth);
        }
        None
    }

    /// Opens the download and returns a multipart form streaming it (field `file`).
    pub async fn open(
        &self,
        url: &str,
        filename: &str,
        content_type: Option<&str>,
    ) -> Result<Form, CallFailure> {
        let url = url::Url::parse(url)
            .map_err(|e| error::permanent(format!("attachment URL is invalid: {e}")))?;
        let auth = self.auth_for(&url).ok_or_else(|| {
            error::permanent(format!(
                "attachment URL {} is not on the tenant's ITSM; credentials are not sent elsewhere",
                url.origin().ascii_serialization()
            ))
        })?;
        let req = match auth {
            OutboundAuth::Basic { username, password } => self
                .http
                .get(url.clone())
                .basic_auth(username, Some(password.expose())),
            OutboundAuth::Bearer { token } => {
                self.http.get(url.clone()).bearer_auth(token.expose())
            }
        };
        let resp = req.send().await.map_err(|e| CallFailure {
            // A GET is safe to repeat: never "unknown".
            class: FailureClass::Retryable { retry_after: None },
            http_status: None,
            code: None,
            message: format!("attachment download failed: {e}"),
        })?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(CallFailure {
                class: classify_status(status, error::retry_after(resp.headers())),
                http_status: Some(status),
                code: None,
                message: format!("attachment download answered {status}"),
            });
        }
        let too_big = |n: u64| {
            error::permanent(format!(
                "attachment of {n} bytes is over the limit of {} bytes",
                self.max_bytes
            ))
        };
        let mime = content_type
            .map(str::to_owned)
            .or_else(|| {
                resp.headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let part = match resp.content_length() {
            Some(n) if n > self.max_bytes => return Err(too_big(n)),
            Some(n) => {
                let max = self.max_bytes;
                // Guard even a lying Content-Length: the stream stops past the limit.
                let mut seen = 0u64;
                let stream = resp.bytes_stream().map(move |chunk| {
                    let chunk = chunk?;
                    seen += chunk.len() as u64;
                    if seen > max {
                        return Err(std::io::Error::other("attachment over the size limit").into());
                    }
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(chunk)
                });
                Part::stream_with_length(reqwest::Body::wrap_stream(stream), n)
            }
            // No length announced: read whole (at most the limit), under the process's budget.
            None => super::attachment_buffer::buffered_part(resp, self.max_bytes).await?,
        };
        let part = part
            .file_name(filename.to_owned())
            .mime_str(&mime)
            .map_err(|e| error::permanent(format!("attachment content type {mime:?}: {e}")))?;
        Ok(Form::new().part("file", part))
    }
}
