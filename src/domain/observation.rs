//! What the poller observed of a linked Orange object, as the ticket timeline shows it.
//!
//! The poller keeps only the latest [`RemoteState`] of each ticket (to diff the next read
//! against); the store derives these changes from the state it replaces, in the same
//! transaction (`Store::commit_poll`), so the history costs the poller nothing and cannot
//! disagree with the state it was derived from.

use serde::{Deserialize, Serialize};

use super::{RemoteState, Timestamp};

/// One change the poller saw, with when it committed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    #[serde(flatten)]
    pub change: ObservedChange,
}

/// A change between two remote states of one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ObservedChange {
    /// The first read of the object after it was linked.
    FirstSeen {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    /// The Orange status moved.
    Status { from: Option<String>, to: String },
    /// An Orange note or comment not seen before (pushed or deliberately skipped).
    Note { id: String },
    /// The resolution fields changed (close code, resolution text, date).
    Resolution { resolution: String },
}

impl ObservedChange {
    /// Short name, for the terminal timeline and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FirstSeen { .. } => "first_seen",
            Self::Status { .. } => "status",
            Self::Note { .. } => "note",
            Self::Resolution { .. } => "resolution",
        }
    }
}

/// The changes from `prior` (`None`: never read before) to `next`, in a stable order: first
/// read, status, notes in the order they were seen, resolution.
pub fn changes(prior: Option<&RemoteState>, next: &RemoteState) -> Vec<ObservedChange> {
    let mut out = Vec::new();
    let empty = RemoteState::default();
    let before = match prior {
        Some(p) => p,
        None => {
            out.push(ObservedChange::FirstSeen {
                status: next.status.clone(),
            });
            &empty
        }
    };
    if prior.is_some()
        && let Some(to) = &next.status
        && before.status.as_ref() != Some(to)
    {
        out.push(ObservedChange::Status {
            from: before.status.clone(),
            to: to.clone(),
        });
    }
    out.extend(
        next.seen_notes
            .iter()
            .filter(|n| !before.seen_notes.contains(n))
            .map(|id| ObservedChange::Note { id: id.clone() }),
    );
    if let Some(r) = &next.resolution
        && before.resolution.as_ref() != Some(r)
    {
        out.push(ObservedChange::Resolution {
            resolution: r.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, notes: &[&str], resolution: Option<&str>) -> RemoteState {
        RemoteState {
            status: Some(status.into()),
            seen_notes: notes.iter().map(|n| (*n).to_owned()).collect(),
            resolution: resolution.map(str::to_owned),
            step: None,
            last_update: None,
        }
    }

    #[test]
    fn a_first_read_is_first_seen_with_its_notes() {
        let c = changes(None, &state("Acknowledged", &["N1"], None));
        assert_eq!(
            c,
            vec![
                ObservedChange::FirstSeen {
                    status: Some("Acknowledged".into())
                },
                ObservedChange::Note { id: "N1".into() },
            ]
        );
    }

    #[test]
    fn only_what_changed_since_the_prior_state_is_observed() {
        let prior = state("Acknowledged", &["N1"], None);
        let next = state("Resolved", &["N1", "N2"], Some("resolution=\"fixed\""));
        assert_eq!(
            changes(Some(&prior), &next),
            vec![
                ObservedChange::Status {
                    from: Some("Acknowledged".into()),
                    to: "Resolved".into()
                },
                ObservedChange::Note { id: "N2".into() },
                ObservedChange::Resolution {
                    resolution: "resolution=\"fixed\"".into()
                },
            ]
        );
        assert!(changes(Some(&next), &next).is_empty());
    }

    #[test]
    fn an_observation_serialises_flat_with_its_change() {
        let o = Observation {
            at: time::macros::datetime!(2026-01-01 00:00:00 UTC),
            change: ObservedChange::Status {
                from: None,
                to: "InProgress".into(),
            },
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["change"], "status");
        assert_eq!(v["to"], "InProgress");
        assert_eq!(v["at"], "2026-01-01T00:00:00Z");
    }
}
