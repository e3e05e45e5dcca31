//! The exact text of a JSON number, read from the raw body when the parsed value lost it.
//!
//! serde_json keeps integers that fit in `i64`/`u64` exactly and turns every other number
//! into an `f64`: a 30-digit `sys_mod_count` becomes `1.2345678901234568e29`, and two
//! events that differ only there would share a dedupe key. Turning on serde_json's
//! `arbitrary_precision` would keep every number's text, but it changes `Number` for the
//! whole program (a `String` per number parsed on the ingest hot path, numbers buffered by
//! serde's untagged/flatten machinery turn into maps, jaq and jsonschema see another
//! representation). Keys are built from a handful of paths, so instead the rare number that
//! is an `f64` is looked up again in the raw body, by its path, with `RawValue` (borrowed
//! slices, nothing else parsed into values); exact integers, strings and everything else
//! never come here.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// `n` as text: its own when exact, else its text in `raw` at `path` (object keys or array
/// indexes), else (no raw body, or not found) serde_json's rendering.
pub fn number_text<'a>(
    n: &Number,
    raw: Option<&[u8]>,
    path: impl IntoIterator<Item = &'a str>,
) -> String {
    if !n.is_f64() {
        return n.to_string();
    }
    raw.and_then(|raw| text_at(raw, path))
        .filter(|t| t.parse::<f64>().ok() == n.as_f64())
        .unwrap_or_else(|| n.to_string())
}

/// A value at `pointer` (`/a/b/0`) as key text: strings as they are, numbers exactly.
pub fn id_text(body: &Value, raw: Option<&[u8]>, pointer: &str) -> Option<String> {
    match body.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(number_text(
            n,
            raw,
            pointer_segments(pointer).iter().map(String::as_str),
        )),
        _ => None,
    }
}

fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The raw text of the scalar at `path` in the JSON document `raw`.
fn text_at<'a>(raw: &[u8], path: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut cur: &RawValue = serde_json::from_str(text).ok()?;
    for seg in path {
        let inner = cur.get();
        cur = match inner.trim_start().as_bytes().first()? {
            b'{' => {
                let map: HashMap<String, &RawValue> = serde_json::from_str(inner).ok()?;
                *map.get(seg)?
            }
            b'[' => {
                let items: Vec<&RawValue> = serde_json::from_str(inner).ok()?;
                *items.get(seg.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur.get().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_and_precise_numbers_keep_their_text() {
        let raw = br#"{"a": {"n": 123456789012345678901234567890, "l": [1, 0.10000000000000000001]}, "s": 7}"#;
        let v: Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(
            id_text(&v, Some(raw), "/a/n").as_deref(),
            Some("123456789012345678901234567890")
        );
        assert_eq!(
            id_text(&v, Some(raw), "/a/l/1").as_deref(),
            Some("0.10000000000000000001")
        );
        assert_eq!(id_text(&v, Some(raw), "/s").as_deref(), Some("7"));
        assert_eq!(
            id_text(&v, None, "/a/n").as_deref(),
            Some("1.2345678901234568e+29")
        );
    }
}
