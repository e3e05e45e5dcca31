//! The Jira issue as the simulator keeps it (in `state::Data`); how the REST API shows and
//! changes it is `jira.rs`'s business.

use serde_json::Value;

/// The status every new issue starts in (the workflow: `jira/workflow.rs`).
pub const INITIAL: &str = "Open";

#[derive(Debug, Clone)]
pub struct Issue {
    pub id: String,
    pub key: String,
    pub fields: Value,
    pub status: &'static str,
    /// Stored comments; bodies as written (a string, or an ADF document from v3).
    pub comments: Vec<Value>,
    /// Changelog histories `{id, author, created, items}`, oldest first.
    pub histories: Vec<Value>,
    pub created: String,
    pub updated: String,
}

impl Issue {
    pub fn new(id: &str, key: &str, fields: Value, stamp: &str) -> Self {
        Self {
            id: id.into(),
            key: key.into(),
            fields,
            status: INITIAL,
            comments: vec![],
            histories: vec![],
            created: stamp.to_owned(),
            updated: stamp.to_owned(),
        }
    }
}
