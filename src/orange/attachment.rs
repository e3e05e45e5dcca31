//! Attachments copied from an ITSM to an Orange incident: downloaded with the tenant's ITSM
//! credentials (only ever sent to that ITSM's own origin), size-checked, and streamed into a
//! multipart upload.
//!
//! The download URL comes from webhook content, so nothing it leads to may leave the ITSM's
//! origin: the download client checks every redirect hop against the origin of the first URL
//! (itself checked to be the tenant's ITSM) and refuses the rest before anything is sent
//! there. The body is never held whole: it streams into the upload and the stream fails as
//! soon as it passes the limit, with or without a Content-Length.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::multipart::{Form, Part};

use crate::config::{ItsmConfig, OutboundAuth};
use crate::domain::{CallFailure, FailureClass, classify_status};

use super::error;

/// Redirect hops followed inside the ITSM's origin.
pub const MAX_REDIRECTS: usize = 5;

/// Where attachments come from: the tenant's ITSMs and their credentials.
pub struct AttachmentSource {
    /// Built by [`download_client`]: follows redirects inside the first URL's origin only.
    pub http: reqwest::Client,
    pub itsm: ItsmConfig,
    pub max_bytes: u64,
}

/// The HTTP client of attachment downloads. A redirect to another origin (another host,
/// port or scheme) ends the download with an error; the target gets no request.
pub fn download_client(timeout: Duration) -> reqwest::Client {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(url::Url::origin);
        if first.as_ref() != Some(&attempt.url().origin()) {
            let to = attempt.url().origin().ascii_serialization();
            attempt.error(OffOrigin(to))
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(OffOrigin("too many redirects".into()))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()
        // Only fails when the TLS backend cannot initialise: a broken build, not input.
        .expect("the HTTP client builds")
}

/// A redirect the download client refused.
#[derive(Debug, thiserror::Error)]
#[error("redirect outside the ITSM's origin refused ({0})")]
struct OffOrigin(String);

/// An opened download, ready to be uploaded.
pub struct Download {
    /// Field `file`, streaming the download.
    pub form: Form,
    /// Set when the stream stopped because the body passed the limit: the upload then
    /// failed for that reason, which no retry repairs.
    pub over_limit: Arc<AtomicBool>,
}

/// The failure of an upload whose download passed the limit mid-stream.
pub fn too_big_failure(max_bytes: u64) -> CallFailure {
    too_big(None, max_bytes)
}

fn too_big(n: Option<u64>, max: u64) -> CallFailure {
    error::permanent(match n {
        Some(n) => format!("attachment of {n} bytes is over the limit of {max} bytes"),
        None => format!("attachment is over the limit of {max} bytes"),
    })
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

    /// The download URL: absolute, or a path on the tenant's ITSM (`/api/now/attachment/…`
    /// on ServiceNow, any other path on Jira), so a business rule need not know its own
    /// instance's address.
    fn resolve(&self, raw: &str) -> Result<url::Url, CallFailure> {
        let invalid =
            |e: &dyn std::fmt::Display| error::permanent(format!("attachment URL is invalid: {e}"));
        match url::Url::parse(raw) {
            Ok(u) => Ok(u),
            Err(url::ParseError::RelativeUrlWithoutBase) if raw.starts_with('/') => {
                let base = if raw.starts_with("/api/now/") {
                    self.itsm.servicenow.as_ref().map(|s| &s.base_url)
                } else {
                    self.itsm.jira.as_ref().map(|j| &j.base_url)
                };
                let base = base.ok_or_else(|| {
                    error::permanent(format!(
                        "attachment path {raw} is relative, and the tenant has no ITSM to resolve it on"
                    ))
                })?;
                base.join(raw.trim_start_matches('/'))
                    .map_err(|e| invalid(&e))
            }
            Err(e) => Err(invalid(&e)),
        }
    }

    /// Opens the download and returns a multipart form streaming it (field `file`).
    pub async fn open(
        &self,
        url: &str,
        filename: &str,
        content_type: Option<&str>,
    ) -> Result<Download, CallFailure> {
        let url = self.resolve(url)?;
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
        let resp = req.send().await.map_err(|e| {
            if e.is_redirect() {
                // The ITSM pointed elsewhere: the same answer next time.
                return error::permanent(format!(
                    "attachment download refused: {}",
                    std::error::Error::source(&e)
                        .map_or_else(|| e.to_string(), ToString::to_string)
                ));
            }
            CallFailure {
                // A GET is safe to repeat: never "unknown".
                class: FailureClass::Retryable { retry_after: None },
                http_status: None,
                code: None,
                message: format!("attachment download failed: {e}"),
            }
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
        let mime = content_type
            .map(str::to_owned)
            .or_else(|| {
                resp.headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let max = self.max_bytes;
        let length = resp.content_length();
        if let Some(n) = length.filter(|&n| n > max) {
            return Err(too_big(Some(n), max));
        }
        // Counted as it streams: a missing or lying Content-Length stops at the limit, and
        // no more than one chunk is ever held.
        let over_limit = Arc::new(AtomicBool::new(false));
        let flag = over_limit.clone();
        let mut seen = 0u64;
        let stream = resp.bytes_stream().map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > max {
                flag.store(true, Ordering::Release);
                return Err(std::io::Error::other("attachment over the size limit").into());
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(chunk)
        });
        let body = reqwest::Body::wrap_stream(stream);
        let part = match length {
            Some(n) => Part::stream_with_length(body, n),
            // Sent chunked: the upload starts with the first chunk, not after the last.
            None => Part::stream(body),
        };
        let part = part
            .file_name(filename.to_owned())
            .mime_str(&mime)
            .map_err(|e| error::permanent(format!("attachment content type {mime:?}: {e}")))?;
        Ok(Download {
            form: Form::new().part("file", part),
            over_limit,
        })
    }
}

#[cfg(test)]
#[path = "attachment_tests.rs"]
mod tests;
