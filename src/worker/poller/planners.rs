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

    fn step_ops(calls: &[ItsmCall]) -> Vec<String> {
        calls
            .iter()
            .map(|c| match &c.op {
                ItsmOp::JiraComment { body, public, .. } => format!("comment({public}) {body}"),
                ItsmOp::JiraTransition { transition, .. } => format!("transition {transition}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn shipped_jira_ordering_mapping_plays_each_step_once_and_catches_up_skipped_ones() {
        let m = shipped("jira-ordering.yaml");
        let at = |step: &str| json!({"id": "3-00286001", "step": step});
        fn seen(o: &Value) -> Observed<'_> {
            Observed {
                orange_id: "3-00286001",
                status: None,
                object: o,
                notes: &[],
            }
        }
        let request = at("REQUEST");
        let (calls, s1) = diff("10901", None, seen(&request), &m);
        assert!(
            matches!(
                &calls[..],
                [ItsmCall {
                    op: ItsmOp::JiraEdit { .. },
                    ..
                }]
            ),
            "first sighting: only the Orange id ({calls:?})"
        );
        let order = at("ORDER");
        let (calls, s2) = diff("10901", Some(&s1), seen(&order), &m);
        assert_eq!(
            step_ops(&calls),
            [
                "comment(true) Orange is validating order 3-00286001.",
                "comment(true) Orange accepted order 3-00286001; it is being ordered.",
                "transition In Progress",
            ],
            "VALIDATION was skipped between two reads: its rule runs first"
        );
        let (again, _) = diff("10901", Some(&s2), seen(&order), &m);
        assert!(again.is_empty(), "a step is played once");
        let done = at("completed");
        let (calls, s3) = diff("10901", Some(&s2), seen(&done), &m);
        assert_eq!(
            step_ops(&calls),
            [
                "comment(true) Order 3-00286001 is being delivered.",
                "comment(true) Order 3-00286001 is complete.",
                "transition Resolve Issue",
            ]
        );
        assert_eq!(s3.step.as_deref(), Some("completed"));
        let late = at("DELIVERY");
        let (calls, _) = diff("10901", None, seen(&late), &m);
        assert_eq!(
            step_ops(&calls)[1..],
            [
                "comment(true) Orange is validating order 3-00286001.",
                "comment(true) Orange accepted order 3-00286001; it is being ordered.",
                "transition In Progress",
                "comment(true) Order 3-00286001 is being delivered.",
            ],
            "first seen at DELIVERY: the steps it went through, in order, after the Orange id"
        );
        let odd = at("ON_HOLD");
        let (calls, s4) = diff("10901", Some(&s3), seen(&odd), &m);
        assert!(
            calls.is_empty(),
            "a step the mapping does not list changes nothing"
        );
        assert_eq!(s4.step.as_deref(), Some("ON_HOLD"));
    }
}
