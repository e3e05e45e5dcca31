//! The ServiceNow simulator's user and its rights: `sys_user` (the simulator's one user) and
//! `sys_user_has_role` (its roles, as the `servicenow_rights` switch says), which
//! `itsm-bridge doctor` reads to judge write access, and the refusals those rights imply —
//! a `snc_read_only` user's writes, a read of `sys_journal_field` without the right. The
//! bodies are ServiceNow's ACL refusals (inferred: docs/orange-assumptions.md, "ITSM rights").

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::servicenow_error;
use super::inferred::ServicenowRights;
use super::state::SimState;

/// The simulator user's `sys_id`.
pub const USER_SYS_ID: &str = "5137153cc611227c000bbd1bd8cd2005";

/// `sys_user`: the simulator's user.
pub fn users(st: &SimState) -> Vec<Value> {
    let name = &st.opts.itsm_username;
    vec![json!({"sys_id": USER_SYS_ID, "user_name": name, "name": name, "active": "true"})]
}

fn roles(st: &SimState) -> &'static [&'static str] {
    match st.inferred().servicenow_rights {
        ServicenowRights::Itil | ServicenowRights::NoJournal => &["itil", "rest_service"],
        ServicenowRights::ReadOnly => &["itil", "rest_service", "snc_read_only"],
    }
}

/// `sys_user_has_role`: one active grant per role, with the dot-walked `role.name`.
pub fn grants(st: &SimState) -> Vec<Value> {
    roles(st)
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({"sys_id": format!("{:032x}", 0x5e00_0000_u64 + i as u64), "user": USER_SYS_ID,
                   "role": format!("{:032x}", 0x7a00_0000_u64 + i as u64), "role.name": r,
                   "state": "active", "inherited": "false"})
        })
        .collect()
}

/// The refusal of a write by a read-only user, if this is one.
pub fn write_refused(st: &SimState) -> Option<Response> {
    (st.inferred().servicenow_rights == ServicenowRights::ReadOnly).then(|| {
        servicenow_error(
            StatusCode::FORBIDDEN,
            "Operation Failed",
            "ACL Exception Update Failed due to security constraints",
        )
    })
}

/// The refusal of a list of `table` the user may not read, if it may not.
pub fn read_refused(st: &SimState, table: &str) -> Option<Response> {
    let denied = table == "sys_journal_field"
        && st.inferred().servicenow_rights == ServicenowRights::NoJournal;
    denied.then(|| {
        servicenow_error(
            StatusCode::FORBIDDEN,
            "User Not Authorized",
            &format!("Not authorized to read table {table}"),
        )
    })
}
