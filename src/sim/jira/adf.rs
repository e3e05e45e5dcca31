//! Atlassian Document Format, as much as the Jira simulator needs: a text as a document, a
//! document's text, and the rules Jira Cloud enforces on v3 bodies.

use serde_json::{Value, json};

/// A one-paragraph document holding `text`.
pub(super) fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

/// The text of a node and its children, run together.
pub(super) fn adf_text(node: &Value) -> String {
    if let Some(t) = node.get("text").and_then(Value::as_str) {
        return t.to_owned();
    }
    node.get("content")
        .and_then(Value::as_array)
        .map(|c| c.iter().map(adf_text).collect::<Vec<_>>().join(""))
        .unwrap_or_default()
}

/// The ADF rules that bite: a `doc` of version 1 with a content array, non-empty text nodes.
pub fn valid_adf(v: &Value) -> bool {
    fn nodes_ok(n: &Value) -> bool {
        let text_ok = n.get("type") != Some(&json!("text"))
            || n.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty());
        text_ok
            && n.get("content")
                .and_then(Value::as_array)
                .is_none_or(|c| c.iter().all(nodes_ok))
    }
    v.get("type") == Some(&json!("doc"))
        && v.get("version") == Some(&json!(1))
        && v.get("content").is_some_and(Value::is_array)
        && nodes_ok(v)
}
