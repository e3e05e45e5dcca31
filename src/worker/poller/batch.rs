//! What one cycle commits in its one `PollState::commit_poll`: the new remote states, the
//! write-backs they plan and the links read one by one, gathered per object and merged.

use crate::domain::{ItsmCall, NewDelivery, RemoteState, Target, TicketKey};

/// What a cycle commits.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) states: Vec<(TicketKey, RemoteState)>,
    pub(super) deliveries: Vec<NewDelivery>,
    /// Links read one by one this cycle, and whether each is final (marked after the commit).
    pub(super) checks: Vec<(TicketKey, bool)>,
}

impl Batch {
    pub(super) fn pending_state(&self, ticket: &TicketKey) -> Option<&RemoteState> {
        self.states
            .iter()
            .rev()
            .find(|(t, _)| t == ticket)
            .map(|(_, s)| s)
    }
    pub(super) fn absorb(&mut self, other: Batch) {
        for (t, s) in other.states {
            self.states.retain(|(x, _)| x != &t);
            self.states.push((t, s));
        }
        self.deliveries.extend(other.deliveries);
        self.checks.extend(other.checks);
    }
    pub(super) fn push(&mut self, ticket: &TicketKey, state: RemoteState, calls: Vec<ItsmCall>) {
        self.states.retain(|(t, _)| t != ticket);
        self.states.push((ticket.clone(), state));
        self.deliveries
            .extend(calls.into_iter().map(|c| NewDelivery {
                ticket: ticket.clone(),
                target: Target::Itsm(c),
            }));
    }
}
