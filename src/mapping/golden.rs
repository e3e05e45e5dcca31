//! Golden cases: an input event (file or inline, plus headers) and what the mapping must make
//! of it: the exact calls, a skip, or an error. Run by `check` and by `cargo test`.

use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::{Incoming, Mapping, MappingProblem};

/// One compiled golden case.
#[derive(Debug)]
pub struct GoldenCase {
    pub name: String,
    pub body: Value,
    pub raw: Vec<u8>,
    pub headers: HeaderMap,
    pub expect: Value,
}

pub fn compile_case(v: &Value, base: &Path) -> Result<GoldenCase, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed")
        .to_owned();
    let (body, raw) = match v.get("event") {
        Some(Value::String(file)) => {
            // Only the mapping's folder and below: the console's playground compiles text an
            // operator typed, which must not read other files of the server.
            let rel = Path::new(file);
            if rel.is_absolute()
                || rel.components().any(|c| {
                    !matches!(
                        c,
                        std::path::Component::Normal(_) | std::path::Component::CurDir
                    )
                })
            {
                return Err(format!(
                    "`{name}`: event file {file:?} must be a path below the mapping's folder"
                ));
            }
            let path = base.join(rel);
            let raw = std::fs::read(&path)
                .map_err(|e| format!("`{name}`: cannot read {}: {e}", path.display()))?;
            let body = serde_json::from_slice(&raw)
                .map_err(|e| format!("`{name}`: {} is not JSON: {e}", path.display()))?;
            (body, raw)
        }
        Some(inline) => (
            inline.clone(),
            serde_json::to_vec(inline).unwrap_or_default(),
        ),
        None => return Err(format!("`{name}` has no event")),
    };
    let mut headers = HeaderMap::new();
    for (k, val) in v
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let hn = HeaderName::try_from(k.as_str())
            .map_err(|_| format!("`{name}`: bad header name `{k}`"))?;
        let text = val
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| val.to_string());
        let hv = HeaderValue::try_from(text)
            .map_err(|_| format!("`{name}`: bad header value for `{k}`"))?;
        headers.insert(hn, hv);
    }
    Ok(GoldenCase {
        name,
        body,
        raw,
        headers,
        expect: v.get("expect").cloned().unwrap_or(Value::Null),
    })
}

fn check_str(expect: &Value, key: &str, got: Option<&str>) -> Result<(), String> {
    match expect.get(key) {
        None => Ok(()),
        Some(want) if want.as_str() == got => Ok(()),
        Some(want) => Err(format!(
            "{key}: expected {want}, got {}",
            got.map_or("none".into(), |g| format!("\"{g}\""))
        )),
    }
}

/// Runs one case; `Err` says how the result differs from the expectation.
pub fn run(m: &Mapping, case: &GoldenCase) -> Result<(), String> {
    let inc = Incoming {
        kind: m.kind,
        headers: &case.headers,
        body: &case.body,
        raw: &case.raw,
    };
    let ex = &case.expect;
    match (m.apply(&inc), ex.get("error")) {
        (Err(e), Some(want)) => {
            let want = want.as_str().unwrap_or("");
            return if e.to_string().contains(want) {
                Ok(())
            } else {
                Err(format!("expected an error containing \"{want}\", got: {e}"))
            };
        }
        (Err(e), None) => return Err(format!("mapping failed: {e}")),
        (Ok(got), Some(want)) => {
            return Err(format!(
                "expected an error containing {want}, got {} call(s)",
                got.calls.len()
            ));
        }
        (Ok(got), None) => {
            check_str(ex, "dedupe_key", Some(&got.dedupe_key))?;
            check_str(ex, "ticket", got.ticket.as_deref())?;
            check_str(ex, "event_type", Some(&got.event_type))?;
            if let Some(want) = ex.get("skip") {
                let why = got.skipped.as_deref().unwrap_or("");
                let ok = got.calls.is_empty() && want.as_str().is_none_or(|w| why.contains(w));
                if !ok {
                    return Err(format!(
                        "expected a skip ({want}), got {} call(s), reason {why:?}",
                        got.calls.len()
                    ));
                }
            }
            if let Some(want) = ex.get("calls") {
                let calls = serde_json::to_value(&got.calls).unwrap_or(Value::Null);
                if &calls != want {
                    return Err(format!(
                        "calls differ\n  expected: {}\n  got:      {}",
                        serde_json::to_string(want).unwrap_or_default(),
                        serde_json::to_string(&calls).unwrap_or_default()
                    ));
                }
            }
        }
    }
    Ok(())
}

pub fn run_all(m: &Mapping) -> Vec<MappingProblem> {
    m.golden
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            run(m, c).err().map(|e| MappingProblem {
                file: m.name.clone(),
                at: format!("golden[{i}] `{}`", c.name),
                message: e,
            })
        })
        .collect()
}
