//! The seeded world every simulator starts with (and returns to on `/_sim/reset`): one
//! customer account with sites in FR, GB and US, Business VPN service points, the routers,
//! switches and access lines behind them (named like ServiceNow `cmdb_ci` display values,
//! e.g. `PARIS-RTR-01`), Wholesale service numbers, Ordering catalog items, one ServiceNow
//! incident, and the Jira issues of the shipped demo events. docs/simulators.md lists it.

use serde_json::{Value, json};

use super::issue::Issue;
use super::state::Data;

/// The seeded customer (the account of the docs' example incident).
pub const ACCOUNT_ID: &str = "33-01257052";
/// The seeded ServiceNow incident.
pub const SN_SYS_ID: &str = "9d385017c611228701d22104cc95c371";
/// The seeded attachment of the ServiceNow incident (`events/servicenow/incident-attachment.json`).
pub const SN_ATTACHMENT_ID: &str = "5f1b0c3ddb2a2010a8e6f3b5ca9619aa";
/// The seeded Jira issue.
pub const JIRA_KEY: &str = "SUP-1";

/// The data every simulator starts from (and `/_sim/reset` returns to).
pub fn seeded() -> Data {
    let mut d = Data::default();
    fill(&mut d);
    d
}

pub fn fill(d: &mut Data) {
    d.accounts = vec![
        json!({"id": ACCOUNT_ID, "name": "BULLES'0", "type": "INTERNATIONAL", "country": "FR", "status": "ACTIVE"}),
        json!({"id": "33-01300001", "name": "ACME Industries", "type": "INTERNATIONAL", "country": "GB", "status": "ACTIVE"}),
    ];
    let sites = [
        (
            "LOC-PAR-001",
            "Paris HQ",
            "78 rue Olivier de Serres",
            "75015",
            "Paris",
            "FR",
            "PARIS",
        ),
        (
            "LOC-LYS-002",
            "Lyon office",
            "10 rue de la Republique",
            "69002",
            "Lyon",
            "FR",
            "LYON",
        ),
        (
            "LOC-LON-003",
            "London office",
            "1 Canada Square",
            "E14 5AB",
            "London",
            "GB",
            "LONDON",
        ),
        (
            "LOC-NYC-004",
            "New York office",
            "350 5th Avenue",
            "10118",
            "New York",
            "US",
            "NYC",
        ),
    ];
    for (i, (id, name, street, zip, city, country, tag)) in sites.into_iter().enumerate() {
        let account = if country == "GB" {
            "33-01300001"
        } else {
            ACCOUNT_ID
        };
        let address =
            json!({"street": street, "postalCode": zip, "city": city, "country": country});
        d.locations
            .push(json!({"id": id, "name": name, "address": address, "account": {"id": account}}));
        let sp = format!("SP-{:06}", 100_001 + i);
        d.service_points.push(json!({
            "id": sp, "name": format!("BVPN {name}"), "offer": "Business VPN", "status": "ACTIVE",
            "account": {"id": account}, "location": {"id": id, "address": address},
            "serviceLevelManagement": {"level": if i == 0 { "GOLD" } else { "SILVER" }, "gtr": if i == 0 { "4h" } else { "8h" }},
        }));
        let cis = [
            ("RTR", "ROUTER", "Cisco ISR 4451"),
            ("SW", "SWITCH", "Cisco Catalyst 9300"),
            ("ACCESS", "ACCESS_LINE", "Fiber 1 Gbps"),
            ("FW", "FIREWALL", "Fortinet FortiGate 100F"),
        ];
        for (j, (short, kind, model)) in cis.into_iter().enumerate() {
            d.configuration_items.push(json!({
                "id": format!("CI-{:06}", 200_001 + i * 10 + j),
                "name": format!("{tag}-{short}-01"), "type": kind, "model": model,
                "serialNumber": format!("FGL{:08}", 21_000_000 + i * 10 + j), "status": "INSTALLED",
                "servicePoint": {"id": sp}, "location": {"id": id}, "account": {"id": account},
            }));
        }
        d.service_numbers.push(json!({
            "productCharacteristic": [
                {"name": "productType", "value": "IPVPN"},
                {"name": "productTypeLabel", "value": format!("IP VPN {city}")},
            ],
            "orangeServiceNumbers": [{
                "orangeServiceNumber": format!("LD{:06}", 100 + i),
                "technicalNumbers": [format!("LD{:06}", 1100 + i)],
            }],
        }));
    }
    d.catalog_items = vec![
        json!({"id": "CAT-BVPN-ACCESS", "name": "Business VPN access", "family": "BVPN", "status": "ACTIVE"}),
        json!({"id": "CAT-BVPN-BANDWIDTH", "name": "Business VPN bandwidth change", "family": "BVPN", "status": "ACTIVE"}),
        json!({"id": "CAT-BVPN-CPE", "name": "Business VPN CPE replacement", "family": "BVPN", "status": "ACTIVE"}),
    ];
    let now = super::state::servicenow_now();
    d.sn_incidents.insert(SN_SYS_ID.into(), json!({
        "sys_id": SN_SYS_ID, "number": "INC0010001", "short_description": "Paris router down",
        "description": "PARIS-RTR-01 unreachable since 09:00", "state": "1", "incident_state": "1",
        "impact": "1", "urgency": "1", "priority": "1", "cmdb_ci": "PARIS-RTR-01",
        "correlation_id": "", "correlation_display": "", "close_code": "", "close_notes": "",
        "work_notes": "", "comments": "", "active": "true", "sys_mod_count": "0",
        "sys_created_on": now, "sys_updated_on": now, "sys_created_by": "admin", "sys_updated_by": "admin",
    }));
    d.sn_attachments.insert(
        SN_ATTACHMENT_ID.into(),
        (
            "traceroute-paris.txt".into(),
            "text/plain".into(),
            b"traceroute to 10.1.0.1 (10.1.0.1), 30 hops max\n 1  192.168.1.254  0.512 ms\n 2  * * *\n".to_vec(),
        ),
    );
    let stamp = super::jira::jira_stamp(d);
    // Ids come from the same sequence as created issues' so they never collide.
    let id = (10_000 + d.next_seq()).to_string();
    d.jira_issues.insert(
        JIRA_KEY.into(),
        Issue::new(
            &id,
            JIRA_KEY,
            json!({
                "summary": "Paris router down", "description": "PARIS-RTR-01 unreachable",
                "labels": [], "priority": {"name": "High"},
            }),
            &stamp,
        ),
    );
    // The issues the shipped demo events are about (mappings/demo/events/jira/), under the
    // ids the events carry, so that write-backs of the sandbox land. They were last updated
    // when the events say, long before the gateway started: a reconciliation looking back a
    // few minutes does not take them for missed changes.
    for (id, key, stamp, fields) in [
        (
            DEMO_JIRA_INCIDENT.0,
            DEMO_JIRA_INCIDENT.1,
            "2025-05-14T07:20:30.000+0000",
            json!({"summary": "Internet breakout down in Lyon", "issuetype": {"name": "Incident"},
                   "project": {"key": "OPS", "name": "OPS"}, "labels": ["wan"], "priority": {"name": "High"}}),
        ),
        (
            DEMO_JIRA_REQUEST.0,
            DEMO_JIRA_REQUEST.1,
            "2025-05-14T12:13:20.000+0000",
            json!({"summary": "New 100 Mbps BVPN access for the Nantes office", "issuetype": {"name": "Service Request"},
                   "project": {"key": "REQ", "name": "REQ"}, "priority": {"name": "Medium"}}),
        ),
    ] {
        d.jira_issues
            .insert(key.into(), Issue::new(id, key, fields, stamp));
    }
}

/// The demo's Jira Cloud incident (id, key), as in `events/jira/cloud-*.json`.
pub const DEMO_JIRA_INCIDENT: (&str, &str) = ("10482", "OPS-1287");
/// The demo's JSM service request (id, key), as in `events/jira/service-request-created.json`.
pub const DEMO_JIRA_REQUEST: (&str, &str) = ("10901", "REQ-88");

/// The seeded service point with this id, for embedding in incidents.
pub fn service_point(d: &Data, id: &str) -> Option<Value> {
    d.service_points.iter().find(|s| s["id"] == id).cloned()
}
