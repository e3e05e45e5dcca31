//! Wire shapes of the Orange APIs the client reads: the id a create answers with, list pages
//! and their count headers, the Wholesale search envelope. Objects themselves stay
//! `serde_json::Value`: Orange's enums are open and its models only partly public, so the
//! client passes through what it does not need to understand.

use serde_json::Value;

use crate::domain::CallFailure;

use super::error;
use super::transport::Answer;

pub const X_TOTAL_COUNT: &str = "x-total-count";
pub const X_RESULT_COUNT: &str = "x-result-count";
/// Wholesale Trouble Tickets spells its page count with an underscore.
pub const X_PAGE_COUNT: &str = "x_page_count";

/// One page of a list call.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Page {
    pub items: Vec<Value>,
    /// `X-Total-Count`: everything matching the filters.
    pub total: Option<u64>,
    /// `X-Result-Count`: items in this page.
    pub result_count: Option<u64>,
}

pub fn json(answer: &Answer) -> Result<Value, CallFailure> {
    if answer.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&answer.body)
        .map_err(|e| error::unreadable(answer.status, &format!("not JSON: {e}")))
}

fn header_u64(answer: &Answer, name: &str) -> Option<u64> {
    answer.headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// A list answer: a bare JSON array (Incident, Core Information, Ordering), or an object
/// wrapping one under a known key.
pub fn page(answer: &Answer) -> Result<Page, CallFailure> {
    let v = json(answer)?;
    let items = match v {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        Value::Object(mut o) => {
            let inner = o
                .remove("search")
                .and_then(|mut s| s.get_mut("tickets").map(Value::take))
                .or_else(|| o.remove("items"))
                .or_else(|| o.remove("tickets"));
            match inner {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => Vec::new(),
                Some(_) => return Err(error::unreadable(answer.status, "list is not an array")),
            }
        }
        _ => return Err(error::unreadable(answer.status, "list is not an array")),
    };
    Ok(Page {
        total: header_u64(answer, X_TOTAL_COUNT),
        result_count: header_u64(answer, X_RESULT_COUNT).or(Some(items.len() as u64)),
        items,
    })
}

/// The id of a created object: `{"id"}` (Incident, Ordering) or `{"ticketId":{"id"}}`
/// (Wholesale Trouble Tickets).
pub fn created_id(v: &Value) -> Option<String> {
    let id = v
        .get("id")
        .or_else(|| v.pointer("/ticketId/id"))
        .or_else(|| v.pointer("/ticket/id"))?;
    match id {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An object answered by a get: Wholesale wraps it in `{"ticket": …}`.
pub fn unwrap_ticket(v: Value) -> Value {
    match v {
        Value::Object(mut o) if o.len() == 1 && o.contains_key("ticket") => {
            o.remove("ticket").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// Writes `value` at JSON pointer `ptr` in `body`, creating objects on the way.
pub fn set_pointer(body: &mut Value, ptr: &str, value: Value) -> Result<(), String> {
    if ptr.is_empty() || !ptr.starts_with('/') {
        return Err(format!("bad JSON pointer {ptr:?}"));
    }
    let mut cur = body;
    let parts: Vec<String> = ptr[1..]
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let (last, path) = parts.split_last().ok_or("empty pointer")?;
    for p in path {
        if cur.is_null() {
            *cur = Value::Object(Default::default());
        }
        cur = match cur {
            Value::Object(o) => o.entry(p.clone()).or_insert(Value::Null),
            Value::Array(a) => p
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get_mut(i))
                .ok_or_else(|| format!("no element {p} in {ptr}"))?,
            _ => return Err(format!("{ptr} crosses a scalar")),
        };
    }
    if cur.is_null() {
        *cur = Value::Object(Default::default());
    }
    match cur {
        Value::Object(o) => {
            o.insert(last.clone(), value);
            Ok(())
        }
        _ => Err(format!("{ptr} crosses a scalar")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn created_ids_are_found_in_every_api_shape() {
        assert_eq!(
            created_id(&json!({"id": "2103M1"})).as_deref(),
            Some("2103M1")
        );
        assert_eq!(
            created_id(&json!({"ticketId": {"id": "123"}})).as_deref(),
            Some("123")
        );
        assert_eq!(created_id(&json!({"id": 7})).as_deref(), Some("7"));
        assert_eq!(created_id(&json!({})), None);
    }

    #[test]
    fn pointers_create_the_objects_they_cross() {
        let mut b = json!({"a": 1});
        set_pointer(&mut b, "/servicePoint/id", json!("SP1")).unwrap();
        assert_eq!(b, json!({"a": 1, "servicePoint": {"id": "SP1"}}));
        assert!(set_pointer(&mut b, "/a/x", json!(1)).is_err());
        assert!(set_pointer(&mut b, "nope", json!(1)).is_err());
    }
}
