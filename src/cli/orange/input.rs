//! What `orange …` reads from the user: JSON bodies from a file or stdin, `PATH=VALUE`
//! filters, an upload's content type, and the documented Wholesale comment body.

use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};

use super::Failure;

/// The JSON body at `path`, or on standard input for `-`.
pub(super) fn read_body(path: &Path) -> Result<Value, Failure> {
    let (name, text) = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::Usage(format!("cannot read the body from stdin: {e}")))?;
        ("<stdin>".to_owned(), s)
    } else {
        let s = std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        (path.display().to_string(), s)
    };
    serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("{name}: not JSON: {e}")))
}

/// Filters as `(path, value)`: `PATH=VALUE`, split at the first `=`.
pub(super) fn parse_filters(
    positional: &[String],
    flagged: &[String],
) -> Result<Vec<(String, String)>, Failure> {
    positional
        .iter()
        .chain(flagged)
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(Failure::Usage(format!(
                "filter {f:?}: expected PATH=VALUE (e.g. priority=P1)"
            ))),
        })
        .collect()
}

/// The content type of a file name's extension; Orange gets `application/octet-stream` for
/// anything else.
pub(super) fn guess_content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "log") => "text/plain",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("html" | "htm") => "text/html",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The documented comment body: a note of type `Comments`, dated now.
pub(super) fn comment_body(text: &str, service_number: Option<&str>) -> Value {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut body = json!({
        "attachment": [],
        "note": { "date": now, "type": "Comments", "text": text },
    });
    if let Some(n) = service_number {
        body["relatedEntity"] = json!({ "id": n, "role": "orangeServiceNumber" });
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_must_be_path_equals_value() {
        let f = parse_filters(&["location.address.country=FR".into()], &["x=a=b".into()])
            .ok()
            .unwrap();
        assert_eq!(f[0], ("location.address.country".into(), "FR".into()));
        assert_eq!(f[1], ("x".into(), "a=b".into()));
        assert!(parse_filters(&["priority".into()], &[]).is_err());
        assert!(parse_filters(&[], &["=P1".into()]).is_err());
    }

    #[test]
    fn a_comment_body_is_the_documented_note() {
        let b = comment_body("hello", Some("LD000000"));
        assert_eq!(b["note"]["type"], "Comments");
        assert_eq!(b["note"]["text"], "hello");
        assert_eq!(b["relatedEntity"]["id"], "LD000000");
        assert!(comment_body("x", None).get("relatedEntity").is_none());
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(guess_content_type("trace.LOG"), "text/plain");
        assert_eq!(guess_content_type("a.pdf"), "application/pdf");
        assert_eq!(guess_content_type("noext"), "application/octet-stream");
    }
}
