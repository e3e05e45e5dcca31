//! Reading Orange request bodies with Orange's 400 codes: 21 missing body, 22 invalid body,
//! 23 missing field, 24 invalid field.

use serde_json::{Map, Value};

use super::error::OrangeError;

/// The body as a JSON object.
pub fn object(bytes: &[u8]) -> Result<Map<String, Value>, OrangeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(OrangeError::code(21));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(OrangeError::with(22, "The body must be a JSON object.")),
        Err(e) => Err(OrangeError::with(
            22,
            format!("The body is not valid JSON: {e}"),
        )),
    }
}

/// A required string field.
pub fn required_str<'a>(m: &'a Map<String, Value>, field: &str) -> Result<&'a str, OrangeError> {
    match m.get(field) {
        None | Some(Value::Null) => Err(OrangeError::with(
            23,
            format!("Missing body field '{field}'."),
        )),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(OrangeError::with(
            24,
            format!("Body field '{field}' must be a non-empty string."),
        )),
    }
}

/// Optional fields that must be strings when present.
pub fn optional_strs(m: &Map<String, Value>, fields: &[&str]) -> Result<(), OrangeError> {
    for f in fields {
        match m.get(*f) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => {
                return Err(OrangeError::with(
                    24,
                    format!("Body field '{f}' must be a string."),
                ));
            }
        }
    }
    Ok(())
}
