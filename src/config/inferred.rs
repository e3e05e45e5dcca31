//! `orange.inferred`: what the gateway assumes where Orange's seed documents are silent, one
//! setting per assumption, defaults being today's assumptions. docs/orange-assumptions.md
//! says for each what the docs show, the alternatives, and which simulator switch imitates
//! them; `itsm-bridge doctor` checks them against the live API.

use serde::Deserialize;

/// `orange.inferred:`
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InferredConfig {
    /// Field of an incident that carries the ITSM ticket's reference (sent on create, read
    /// back to recognise the incident; not in the public model).
    #[serde(default = "defaults::incident_reference_field")]
    pub incident_reference_field: String,
    /// Field of a Wholesale trouble ticket that carries the reference (`externalId`, in the
    /// docs' create example).
    #[serde(default = "defaults::trouble_ticket_reference_field")]
    pub trouble_ticket_reference_field: String,
    /// Field of an ordering request that carries the reference (`customerReference`, in the
    /// docs' list example).
    #[serde(default = "defaults::order_reference_field")]
    pub order_reference_field: String,
    /// Header that carries the Wholesale `ApplicationID` (its transport is not public).
    #[serde(default = "defaults::application_id_header")]
    pub application_id_header: String,
    /// Clock-skew allowance, in seconds, when a create's outcome is unknown and the objects
    /// created since its first send are scanned: Orange's `createdAt` is its clock, the send
    /// time ours, so the scan starts this much earlier.
    #[serde(default = "defaults::created_scan_skew_secs")]
    pub created_scan_skew_secs: u64,
    /// Page size of that scan (1–1000).
    #[serde(default = "defaults::created_scan_page_size")]
    pub created_scan_page_size: u32,
    /// Pages the scan may read before giving up (the delivery is then dead-lettered as
    /// `create-outcome-unknown`, never created twice).
    #[serde(default = "defaults::created_scan_max_pages")]
    pub created_scan_max_pages: u32,
}

impl Default for InferredConfig {
    fn default() -> Self {
        Self {
            incident_reference_field: defaults::incident_reference_field(),
            trouble_ticket_reference_field: defaults::trouble_ticket_reference_field(),
            order_reference_field: defaults::order_reference_field(),
            application_id_header: defaults::application_id_header(),
            created_scan_skew_secs: defaults::created_scan_skew_secs(),
            created_scan_page_size: defaults::created_scan_page_size(),
            created_scan_max_pages: defaults::created_scan_max_pages(),
        }
    }
}

impl InferredConfig {
    /// Every problem, as `(path, message)` under `orange.inferred`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let at = |k: &str| format!("orange.inferred.{k}");
        for (k, v) in [
            ("incident_reference_field", &self.incident_reference_field),
            (
                "trouble_ticket_reference_field",
                &self.trouble_ticket_reference_field,
            ),
            ("order_reference_field", &self.order_reference_field),
        ] {
            if v.trim().is_empty() || v.contains(['=', '&', ' ']) {
                p.push((at(k), format!("must be a field name (got {v:?})")));
            }
        }
        if http::HeaderName::from_bytes(self.application_id_header.as_bytes()).is_err() {
            p.push((
                at("application_id_header"),
                format!(
                    "must be a valid header name (got {:?})",
                    self.application_id_header
                ),
            ));
        }
        if !(1..=1000).contains(&self.created_scan_page_size) {
            p.push((
                at("created_scan_page_size"),
                "must be between 1 and 1000".into(),
            ));
        }
        if self.created_scan_max_pages == 0 {
            p.push((at("created_scan_max_pages"), "must be at least 1".into()));
        }
        if self.created_scan_skew_secs > 3600 {
            p.push((
                at("created_scan_skew_secs"),
                "must be at most 3600 (an hour of skew is a broken clock)".into(),
            ));
        }
        p
    }
}

pub mod defaults {
    pub fn incident_reference_field() -> String {
        "externalReference".into()
    }
    pub fn trouble_ticket_reference_field() -> String {
        "externalId".into()
    }
    pub fn order_reference_field() -> String {
        "customerReference".into()
    }
    pub fn application_id_header() -> String {
        "X-Application-Id".into()
    }
    pub fn created_scan_skew_secs() -> u64 {
        120
    }
    pub fn created_scan_page_size() -> u32 {
        100
    }
    pub fn created_scan_max_pages() -> u32 {
        10
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inferred_settings_are_each_reported_with_their_path() {
        let c = InferredConfig {
            incident_reference_field: "".into(),
            application_id_header: "bad header".into(),
            created_scan_page_size: 0,
            created_scan_max_pages: 0,
            ..InferredConfig::default()
        };
        let at: Vec<String> = c.problems().into_iter().map(|(a, _)| a).collect();
        assert_eq!(
            at,
            [
                "orange.inferred.incident_reference_field",
                "orange.inferred.application_id_header",
                "orange.inferred.created_scan_page_size",
                "orange.inferred.created_scan_max_pages"
            ]
        );
        assert!(InferredConfig::default().problems().is_empty());
    }
}
