//! Plain text → Atlassian Document Format, for Jira REST v3 comment bodies (`itsm::jira`)
//! and the mapping's `plain_to_adf` transform, which build their paragraphs alike.
//!
//! Blank lines separate paragraphs; single newlines become `hardBreak` nodes. ADF rejects
//! empty `text` nodes, so none are ever emitted (an empty paragraph has `content: []`).

use serde_json::{Value, json};

/// The ADF document for `text`.
pub fn from_plain_text(text: &str) -> Value {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let paragraphs: Vec<Value> = split_paragraphs(&unified).map(paragraph).collect();
    let content = if paragraphs.is_empty() {
        vec![json!({"type": "paragraph", "content": []})]
    } else {
        paragraphs
    };
    json!({"type": "doc", "version": 1, "content": content})
}

fn split_paragraphs(text: &str) -> impl Iterator<Item = &str> {
    text.split("\n\n")
        .map(|p| p.trim_matches('\n'))
        .filter(|p| !p.trim().is_empty())
}

/// One ADF paragraph: `p`'s lines as `text` nodes, with a `hardBreak` between them.
pub fn paragraph(p: &str) -> Value {
    let mut content = Vec::new();
    for (i, line) in p.split('\n').enumerate() {
        if i > 0 {
            content.push(json!({"type": "hardBreak"}));
        }
        if !line.is_empty() {
            content.push(json!({"type": "text", "text": line}));
        }
    }
    json!({"type": "paragraph", "content": content})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(t) = v.get("text").and_then(Value::as_str) {
            out.push(t.to_owned());
        }
        if let Some(c) = v.get("content").and_then(Value::as_array) {
            out.extend(c.iter().flat_map(texts));
        }
        out
    }

    #[test]
    fn paragraphs_and_hard_breaks_are_built_from_newlines() {
        let doc = from_plain_text("Line card replaced.\nMonitoring.\n\nOrange NOC");
        assert_eq!(
            doc,
            json!({"type":"doc","version":1,"content":[
                {"type":"paragraph","content":[
                    {"type":"text","text":"Line card replaced."},
                    {"type":"hardBreak"},
                    {"type":"text","text":"Monitoring."}]},
                {"type":"paragraph","content":[{"type":"text","text":"Orange NOC"}]}]})
        );
    }

    #[test]
    fn no_text_node_is_ever_empty() {
        for input in [
            "",
            "\n",
            "a\n\n\n\nb",
            "a\n\nb\n",
            "x\n\ny\r\n\r\nz",
            "\n\n\n",
        ] {
            let doc = from_plain_text(input);
            assert!(
                texts(&doc).iter().all(|t| !t.is_empty()),
                "{input:?}: {doc}"
            );
            assert!(!doc["content"].as_array().unwrap().is_empty(), "{input:?}");
        }
    }
}
