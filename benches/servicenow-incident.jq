# The ServiceNow → Incident create body of mappings/demo/servicenow-incident.yaml, as jq.
# Runs unchanged in jq 1.6+ and in jaq (benches/mapping.rs measures both).
def level: {"1": "HIGH", "2": "MEDIUM", "3": "LOW"}[. // ""] // "MEDIUM";
def nonempty: if . == "" then null else . end;
{
  externalReference: .number,
  shortDescription: (.short_description | sub("^\\s+"; "") | sub("\\s+$"; "") | .[0:255]),
  description: (.description | nonempty),
  impact: (.impact | level),
  urgency: (.urgency | level),
  priority: {"1": "P1", "2": "P2", "3": "P3", "4": "P4", "5": "P4"}[.priority // ""],
  type: "FAILURE",
  origin: "CUSTOMER",
  serviceCondition: {"1": "INTERUPTED", "2": "DEGRADED", "3": "DEGRADED"}[.impact // ""],
  occurredAt: (.opened_at | if . then strptime("%Y-%m-%d %H:%M:%S") | mktime | todate else null end),
  contact: ({name: .caller_id_display, email: .caller_email} | with_entries(select(.value != null)))
}
| with_entries(select(.value != null))
