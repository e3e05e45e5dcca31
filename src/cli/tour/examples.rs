//! The four shipped examples the tour walks: which mapping, which demo events (the files of
//! `mappings/demo/events/`, compiled in), which ticket and which Orange API.

/// Which Orange API an example lands in, and how the tour moves its object at Orange.
#[derive(Clone, Copy)]
pub(super) enum Orange {
    Incident,
    TroubleTicket,
    Order,
}

impl Orange {
    pub(super) fn control(self) -> &'static str {
        match self {
            Orange::Incident => "incidents",
            Orange::TroubleTicket => "tickets",
            Orange::Order => "requests",
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Orange::Incident => "incident",
            Orange::TroubleTicket => "trouble ticket",
            Orange::Order => "ordering request",
        }
    }
}

pub(super) struct Example {
    pub(super) title: &'static str,
    pub(super) mapping: &'static str,
    pub(super) source: &'static str,
    /// The ticket id the mapping keys on (ServiceNow sys_id, Jira issue id).
    pub(super) ticket: &'static str,
    pub(super) events: &'static [(&'static str, &'static [u8])],
    pub(super) orange: Orange,
}

macro_rules! demo_event {
    ($rel:literal) => {
        (
            $rel,
            include_bytes!(concat!("../../../mappings/demo/events/", $rel)) as &[u8],
        )
    };
}

pub(super) const EXAMPLES: &[Example] = &[
    Example {
        title: "ServiceNow incident → Orange Incident API",
        mapping: "mappings/demo/servicenow-incident.yaml",
        source: "servicenow",
        ticket: "9d385017c611228701d22104cc95c371",
        events: &[
            demo_event!("servicenow/incident-insert.json"),
            demo_event!("servicenow/incident-update-state.json"),
            demo_event!("servicenow/incident-work-note.json"),
            demo_event!("servicenow/incident-echo.json"),
        ],
        orange: Orange::Incident,
    },
    Example {
        title: "Jira Cloud issue → Orange Incident API",
        mapping: "mappings/demo/jira-incident.yaml",
        source: "jira",
        ticket: "10482",
        events: &[
            demo_event!("jira/cloud-issue-created.json"),
            demo_event!("jira/cloud-issue-updated.json"),
            demo_event!("jira/cloud-comment-created.json"),
        ],
        orange: Orange::Incident,
    },
    Example {
        title: "ServiceNow incident → Orange Wholesale Trouble Tickets",
        mapping: "mappings/demo/servicenow-trouble-ticket.yaml",
        source: "servicenow-tt",
        ticket: "9d385017c611228701d22104cc95c371",
        events: &[
            demo_event!("servicenow/incident-insert.json"),
            demo_event!("servicenow/incident-work-note.json"),
        ],
        orange: Orange::TroubleTicket,
    },
    Example {
        title: "Jira service request → Orange Ordering",
        mapping: "mappings/demo/jira-ordering.yaml",
        source: "jira-orders",
        ticket: "10901",
        events: &[demo_event!("jira/service-request-created.json")],
        orange: Orange::Order,
    },
];
