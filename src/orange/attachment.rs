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
    ) -> Result<Form, CallFailure> {
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
            None => {
                // No length announced: read at most the limit into memory, then upload.
                let mut buf = Vec::new();
                let mut stream = resp.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| CallFailure {
                        class: FailureClass::Retryable { retry_after: None },
                        http_status: None,
                        code: None,
                        message: format!("attachment download failed: {e}"),
                    })?;
                    buf.extend_from_slice(&chunk);
                    if buf.len() as u64 > self.max_bytes {
                        return Err(too_big(buf.len() as u64));
                    }
                }
                Part::bytes(buf)
            }
        };
        let part = part
            .file_name(filename.to_owned())
            .mime_str(&mime)
            .map_err(|e| error::permanent(format!("attachment content type {mime:?}: {e}")))?;
        Ok(Form::new().part("file", part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> AttachmentSource {
        let itsm: ItsmConfig = serde_json::from_value(serde_json::json!({
            "servicenow": {"base_url": "https://acme.service-now.com",
                           "auth": {"type": "basic", "username": "u", "password": "p"}},
            "jira": {"base_url": "https://acme.atlassian.net",
                     "auth": {"type": "basic", "username": "u", "password": "p"}},
        }))
        .expect("itsm config");
        AttachmentSource {
            http: reqwest::Client::new(),
            itsm,
            max_bytes: 1024,
        }
    }

    #[test]
    fn a_path_only_link_is_taken_on_the_tenant_s_own_itsm() {
        let s = source();
        let sn = s.resolve("/api/now/attachment/5f1b/file").unwrap();
        assert_eq!(
            sn.as_str(),
            "https://acme.service-now.com/api/now/attachment/5f1b/file"
        );
        let jira = s.resolve("/rest/api/2/attachment/content/10001").unwrap();
        assert_eq!(
            jira.origin(),
            url::Url::parse("https://acme.atlassian.net")
                .unwrap()
                .origin()
        );
        let abs = s.resolve("https://elsewhere.example/x").unwrap();
        assert!(
            s.auth_for(&abs).is_none(),
            "another origin gets no credentials"
        );
        assert!(s.resolve("api/now/attachment/5f1b/file").is_err());
    }
}
