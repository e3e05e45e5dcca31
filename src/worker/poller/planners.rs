//! The way-back rules the poller plans with: the compiled mappings' `way_back:` sections,
//! looked up by the link's (tenant, source) in the mappings in force (hot reloads included).

use std::sync::Arc;

use serde_json::Value;

use super::{PlannerLookup, WayBackPlanner};
use crate::domain::{ItsmCall, SourceName, TenantId};
use crate::mapping::{LiveMappings, Mapping};

impl WayBackPlanner for Mapping {
    fn plan_status(&self, ticket: &str, orange_status: &str, orange: &Value) -> Option<ItsmCall> {
        self.way_back().plan_status(ticket, orange_status, orange)
    }
    fn plan_note(
        &self,
        ticket: &str,
        orange_id: &str,
        note: &Value,
        orange_authored: bool,
    ) -> Option<ItsmCall> {
        self.way_back()
            .plan_note(ticket, orange_id, note, orange_authored)
    }
    fn plan_link(&self, ticket: &str, orange_id: &str) -> Option<ItsmCall> {
        self.way_back().plan_link(ticket, orange_id)
    }
    fn plan_step(
        &self,
        ticket: &str,
        from: Option<&str>,
        to: &str,
        orange: &Value,
    ) -> Vec<ItsmCall> {
        self.way_back().plan_step(ticket, from, to, orange)
    }
}

impl PlannerLookup for LiveMappings {
    fn planner(&self, tenant: &TenantId, source: &SourceName) -> Option<Arc<dyn WayBackPlanner>> {
        let m: Arc<dyn WayBackPlanner> = self.current().get(tenant, source)?;
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::super::diff::{Observed, diff};
    use super::super::fakes::note;
    use super::*;
    use crate::domain::ItsmOp;

    fn shipped(name: &str) -> Mapping {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("mappings/demo")
            .join(name);
        Mapping::from_file(&file, name).expect("shipped mapping compiles")
    }

    #[test]
    fn shipped_servicenow_mapping_records_the_orange_id_then_resolves_with_close_fields() {
        let m = shipped("servicenow-incident.yaml");
        let inc = json!({"id": "INC-9", "status": "RESOLVED", "resolution": "Line card replaced"});
        let notes = [
            note("N1", "Engineer on site", true),
            note("N2", "from the customer", false),
        ];
        let seen = Observed {
            orange_id: "INC-9",
            status: Some("RESOLVED"),
            object: &inc,
            notes: &notes,
        };
        let (calls, next) = diff("abc", None, seen, &m);
        let fields: Vec<_> = calls
            .iter()
            .map(|c| match &c.op {
                ItsmOp::ServicenowPatch { fields, sys_id, .. } => {
                    assert_eq!(sys_id, "abc");
                    fields.clone()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(fields.len(), 3, "{fields:?}");
        assert_eq!(fields[0]["correlation_id"], json!("INC-9"));
        assert_eq!(
            fields[1]["work_notes"],
            json!("[Orange INC-9] Engineer on site")
        );
        assert_eq!(fields[2]["state"], json!("6"));
        assert_eq!(fields[2]["close_code"], json!("Solution provided"));
        assert!(
            fields[2]["close_notes"]
                .as_str()
                .unwrap()
                .contains("Line card replaced")
        );
        assert_eq!(next.seen_notes, vec!["N1", "N2"]);
    }

    #[test]
    fn shipped_jira_mapping_plans_a_transition_and_an_internal_comment() {
        let m = shipped("jira-incident.yaml");
        let inc = json!({"id": "INC-9", "status": "RESOLVED"});
        let notes = [note("N1", "Engineer on site", true)];
        let seen = Observed {
            orange_id: "INC-9",
            status: Some("RESOLVED"),
            object: &inc,
            notes: &notes,
        };
        let prior = crate::domain::RemoteState::default();
        let (calls, _) = diff("10482", Some(&prior), seen, &m);
        assert!(
            matches!(&calls[0].op, ItsmOp::JiraComment { issue, public: false, .. } if issue == "10482")
        );
        assert!(
            matches!(&calls[1].op, ItsmOp::JiraTransition { transition, .. } if transition == "Resolve Issue")
        );
    }
}
