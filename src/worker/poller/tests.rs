//! Poller behaviour against fakes: diffing, exactly-once across a restart, the lease, the
//! watermark, the call budget and reconciliation.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::diff::{Observed, diff};
use super::fakes::*;
use super::{CycleReport, PollSettings, Poller, Watermarks, lease_name};
use crate::domain::*;
use crate::store::PollState;

pub(super) fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

pub(super) fn now() -> Timestamp {
    time::macros::datetime!(2026-11-22 10:00:00 UTC)
}

pub(super) fn settings(page_size: u32) -> PollSettings {
    PollSettings {
        interval: Duration::from_secs(30),
        page_size,
        reconcile_every: None,
        apis: vec![OrangeApi::Incident],
        per_object_apis: vec![],
        // The scan's own tests; the modes have theirs (tests_modes.rs).
        scan: crate::config::ScanChoice::Incremental,
        reread_budget: 100,
        reprobe_every: Duration::from_secs(15 * 60),
    }
}

pub(super) fn link(store: &MemStore, n: usize) -> TicketKey {
    let ticket = TicketKey::new(
        &tenant(),
        &SourceName::parse("servicenow").unwrap(),
        &format!("sys{n}"),
    );
    store.links.lock().unwrap().push(Link {
        tenant: tenant(),
        source: SourceName::parse("servicenow").unwrap(),
        ticket: ticket.clone(),
        api: OrangeApi::Incident,
        orange_id: format!("INC{n}"),
        created_at: now(),
    });
    ticket
}

pub(super) fn incident(n: usize, status: &str) -> FakeIncident {
    // Distinct instants, as Orange's `lastUpdateDate` gives them.
    let updated = format!(
        "2026-11-22T09:{:02}:{:02}.{:03}Z",
        (n / 1000) % 60,
        (n / 10) % 60,
        n % 1000
    );
    FakeIncident {
        id: format!("INC{n}"),
        updated,
        status: status.into(),
        resolution: None,
        notes: vec![],
    }
}

pub(super) fn setup(n: usize) -> (Arc<MemStore>, Arc<FakeReader>) {
    let store = Arc::new(MemStore::default());
    let reader = Arc::new(FakeReader::default());
    for i in 0..n {
        link(&store, i);
        reader
            .incidents
            .lock()
            .unwrap()
            .push(incident(i, "ACKNOWLEDGED"));
    }
    (store, reader)
}

pub(super) fn poller(
    store: &Arc<MemStore>,
    reader: &Arc<FakeReader>,
    owner: &str,
    s: PollSettings,
) -> Poller {
    Poller::new(
        store.clone(),
        reader.clone(),
        Arc::new(SnTable::standard()),
        vec![tenant()],
        s,
        owner,
    )
}

async fn cycle(p: &Poller) -> Option<CycleReport> {
    let mut out = p.tick(now()).await;
    out.remove(0).1.expect("cycle ok")
}

fn fields(d: &NewDelivery) -> serde_json::Map<String, Value> {
    match &d.target {
        Target::Itsm(ItsmCall {
            op: ItsmOp::ServicenowPatch { fields, .. },
            ..
        }) => fields.clone(),
        other => panic!("not a ServiceNow patch: {other:?}"),
    }
}

#[test]
fn a_new_status_and_an_orange_note_plan_one_write_each_and_customer_notes_are_skipped() {
    let prior = RemoteState {
        status: Some("ACKNOWLEDGED".into()),
        seen_notes: vec!["n0".into()],
        resolution: None,
        ..RemoteState::default()
    };
    let notes = [
        note("n0", "old", true),
        note("n1", "sent by the customer", false),
        note("n2", "Line card replaced", true),
    ];
    let obj = json!({"id":"INC1","status":"IN_PROGRESS"});
    let seen = Observed {
        orange_id: "INC1",
        status: Some("IN_PROGRESS"),
        object: &obj,
        notes: &notes,
    };
    let (calls, next) = diff("sys1", Some(&prior), seen, &SnTable::standard());
    assert_eq!(calls.len(), 2, "{calls:?}");
    let ItsmOp::ServicenowPatch { fields, .. } = &calls[0].op else {
        panic!()
    };
    assert_eq!(
        fields["work_notes"],
        json!("[Orange INC1] Line card replaced")
    );
    assert_eq!(
        calls[0].fingerprint,
        Some(echo::sn_note_fingerprint(
            "[Orange INC1] Line card replaced"
        ))
    );
    let ItsmOp::ServicenowPatch { fields, .. } = &calls[1].op else {
        panic!()
    };
    assert_eq!(fields["state"], json!("2"));
    assert_eq!(next.status.as_deref(), Some("IN_PROGRESS"));
    assert_eq!(
        next.seen_notes,
        vec!["n0", "n1", "n2"],
        "the skipped customer note is remembered"
    );
    // Diffing the same read against the new state plans nothing.
    let (again, same) = diff("sys1", Some(&next), seen, &SnTable::standard());
    assert!(again.is_empty());
    assert_eq!(same, next);
}

#[test]
fn resolving_carries_the_close_fields_in_the_same_patch_and_a_corrected_resolution_is_pushed_again()
{
    let prior = RemoteState {
        status: Some("IN_PROGRESS".into()),
        ..Default::default()
    };
    let obj = json!({"id":"INC1","status":"RESOLVED","resolution":"Line card replaced"});
    let seen = Observed {
        orange_id: "INC1",
        status: Some("RESOLVED"),
        object: &obj,
        notes: &[],
    };
    let (calls, next) = diff("sys1", Some(&prior), seen, &SnTable::standard());
    assert_eq!(calls.len(), 1);
    let ItsmOp::ServicenowPatch { fields, .. } = &calls[0].op else {
        panic!()
    };
    assert_eq!(fields["state"], json!("6"));
    assert_eq!(fields["close_code"], json!("Solution provided"));
    assert_eq!(fields["close_notes"], json!("Line card replaced"));
    let fixed = json!({"id":"INC1","status":"RESOLVED","resolution":"Fibre repaired"});
    let seen = Observed {
        object: &fixed,
        ..seen
    };
    let (calls, _) = diff("sys1", Some(&next), seen, &SnTable::standard());
    assert_eq!(calls.len(), 1, "a changed resolution is pushed once more");
}

#[tokio::test]
async fn changes_are_queued_once_even_when_the_poller_restarts_after_commit() {
    let (store, reader) = setup(3);
    let first = cycle(&poller(&store, &reader, "replica-a", settings(50)))
        .await
        .unwrap();
    assert_eq!(
        first.writebacks, 3,
        "first sight of ACKNOWLEDGED is pushed once per incident"
    );
    reader.update("INC1", "2026-11-22T10:05:00.000Z", |i| {
        i.status = "RESOLVED".into();
        i.resolution = Some("fixed".into());
        i.notes.push(note("n1", "Line card replaced", true));
    });
    let p = poller(&store, &reader, "replica-a", settings(50));
    let rep = cycle(&p).await.unwrap();
    assert_eq!((rep.changes, rep.writebacks), (1, 2));
    let queued = store.queued();
    assert_eq!(queued.len(), 5);
    assert_eq!(
        fields(&queued[3])["work_notes"],
        json!("[Orange INC1] Line card replaced")
    );
    assert_eq!(fields(&queued[4])["state"], json!("6"));
    // A restarted replica (new poller, same store) finds nothing new.
    let restarted = poller(&store, &reader, "replica-a", settings(50));
    let rep = cycle(&restarted).await.unwrap();
    assert_eq!((rep.changes, rep.writebacks), (0, 0));
    assert_eq!(store.queued().len(), 5);
}

#[tokio::test]
async fn only_one_replica_polls_a_tenant_while_its_lease_holds() {
    let (store, reader) = setup(2);
    let a = poller(&store, &reader, "replica-a", settings(50));
    let b = poller(&store, &reader, "replica-b", settings(50));
    assert!(cycle(&a).await.is_some());
    assert!(
        cycle(&b).await.is_none(),
        "b must not poll while a holds the lease"
    );
    assert_eq!(store.queued().len(), 2);
    store
        .release_lease(&lease_name(&tenant()), "replica-a")
        .await
        .unwrap();
    assert!(cycle(&b).await.is_some(), "b takes over once a lets go");
    assert_eq!(
        store.queued().len(),
        2,
        "and finds nothing a did not already queue"
    );
}

#[tokio::test]
async fn a_failed_notes_read_moves_neither_the_watermark_nor_the_queue() {
    let (store, reader) = setup(2);
    *reader.fail_notes.lock().unwrap() = true;
    let p = poller(&store, &reader, "replica-a", settings(50));
    let rep = cycle(&p).await.unwrap();
    assert_eq!(rep.failed_reads, 2);
    assert!(store.queued().is_empty());
    assert_eq!(store.watermark(&lease_name(&tenant())).await.unwrap(), None);
    *reader.fail_notes.lock().unwrap() = false;
    assert_eq!(
        cycle(&p).await.unwrap().writebacks,
        2,
        "the next cycle catches up"
    );
}

fn mark(store: &MemStore) -> Option<String> {
    let stored = store
        .marks
        .lock()
        .unwrap()
        .get(&lease_name(&tenant()))
        .cloned();
    Watermarks::parse(stored.as_deref())
        .get(OrangeApi::Incident)
        .map(str::to_owned)
}

#[tokio::test]
async fn one_object_failing_to_read_holds_back_neither_the_others_nor_itself_for_long() {
    let (store, reader) = setup(3);
    reader.fail_notes_of.lock().unwrap().push("INC1".into());
    let p = poller(&store, &reader, "replica-a", settings(50));
    let rep = cycle(&p).await.unwrap();
    assert_eq!((rep.failed_reads, rep.writebacks), (1, 2));
    let queued: Vec<_> = store.queued().iter().map(|d| d.ticket.clone()).collect();
    assert!(
        !queued.iter().any(|t| t.as_str().ends_with("sys1")),
        "{queued:?}"
    );
    assert_eq!(
        mark(&store).as_deref(),
        Some(incident(0, "").updated.as_str()),
        "the watermark stays below the object that failed"
    );

    reader.fail_notes_of.lock().unwrap().clear();
    let rep = cycle(&p).await.unwrap();
    assert_eq!(
        (rep.failed_reads, rep.writebacks),
        (0, 1),
        "INC1 is read again; INC2, committed already, plans nothing"
    );
    assert_eq!(store.queued().len(), 3);
    assert_eq!(
        mark(&store).as_deref(),
        Some(incident(2, "").updated.as_str())
    );
}

#[tokio::test]
async fn notes_refused_for_good_do_not_stop_the_status_from_going_back() {
    let (store, reader) = setup(2);
    reader.refuse_notes_of.lock().unwrap().push("INC1".into());
    let p = poller(&store, &reader, "replica-a", settings(50));
    let rep = cycle(&p).await.unwrap();
    assert_eq!((rep.failed_reads, rep.writebacks), (1, 2));
    assert_eq!(
        mark(&store).as_deref(),
        Some(incident(1, "").updated.as_str())
    );
}

#[tokio::test(start_paused = true)]
async fn a_cycle_slower_than_the_lease_keeps_it_and_commits() {
    let (store, reader) = setup(2);
    // Interval 30 s: the lease lasts 70 s unless renewed; every notes read takes 100 s.
    *reader.notes_delay.lock().unwrap() = Duration::from_secs(100);
    let a = poller(&store, &reader, "replica-a", settings(50));
    let b = poller(&store, &reader, "replica-b", settings(50));
    let (ra, rb) = tokio::join!(cycle(&a), async {
        tokio::time::sleep(Duration::from_secs(80)).await;
        b.tick(now() + Duration::from_secs(80)).await.remove(0).1
    });
    assert!(
        rb.expect("b's cycle").is_none(),
        "b must not start the cycle a is still running"
    );
    assert_eq!(ra.expect("a committed").writebacks, 2);
    assert_eq!(store.queued().len(), 2);
}

#[tokio::test]
async fn a_cycle_costs_list_pages_plus_one_notes_read_per_changed_linked_incident() {
    let (store, reader) = setup(250);
    // Unlinked incidents change too: they cost no notes read.
    for i in 1000..1010 {
        reader
            .incidents
            .lock()
            .unwrap()
            .push(incident(i, "ACKNOWLEDGED"));
    }
    let p = poller(&store, &reader, "replica-a", settings(50));
    cycle(&p).await.unwrap();
    let before = reader.calls();
    for i in 0..7 {
        reader.update(
            &format!("INC{i}"),
            &format!("2026-11-22T10:0{i}:30.000Z"),
            |x| x.status = "IN_PROGRESS".into(),
        );
    }
    let rep = cycle(&p).await.unwrap();
    assert_eq!(rep.changes, 7);
    // 7 changed since the watermark: one list page (the watermark ends it) + 7 notes reads.
    assert_eq!(reader.calls() - before, 1 + 7);
    assert_eq!(rep.calls, 8);
    let marks = Watermarks::parse(
        store
            .watermark(&lease_name(&tenant()))
            .await
            .unwrap()
            .as_deref(),
    );
    assert_eq!(
        marks.get(OrangeApi::Incident),
        Some("2026-11-22T10:06:30.000Z")
    );
}

#[tokio::test]
async fn reconciliation_repairs_a_change_the_watermark_scan_missed() {
    let (store, reader) = setup(3);
    let mut s = settings(50);
    s.reconcile_every = Some(Duration::from_secs(3600));
    let p = poller(&store, &reader, "replica-a", s);
    let rep = cycle(&p).await.unwrap();
    assert!(rep.reconciled);
    // A change whose lastUpdateDate is older than the watermark (clock skew at Orange).
    reader.update("INC2", "2026-11-22T09:00:00.000Z", |i| {
        i.status = "IN_PROGRESS".into()
    });
    let rep = cycle(&p).await.unwrap();
    assert!(!rep.reconciled, "not due again within the interval");
    assert_eq!(rep.writebacks, 0, "the scan alone misses it");
    let later = Poller::new(
        store.clone(),
        reader.clone(),
        Arc::new(SnTable::standard()),
        vec![tenant()],
        {
            let mut s = settings(50);
            s.reconcile_every = Some(Duration::from_secs(3600));
            s
        },
        "replica-a",
    );
    let rep = cycle(&later).await.unwrap();
    assert!(rep.reconciled);
    assert_eq!(rep.writebacks, 1, "reconciliation finds and pushes it once");
}

/// The status the store last saw of `ticket`'s Orange object.
async fn remote_status(store: &MemStore, ticket: &TicketKey) -> Option<String> {
    let state = store.remote_state(ticket).await.unwrap();
    state.expect("a remote state").status
}

#[tokio::test]
async fn open_trouble_tickets_are_read_one_by_one_until_they_close() {
    let (store, reader) = setup(0);
    let ticket = TicketKey::new(
        &tenant(),
        &SourceName::parse("servicenow").unwrap(),
        "sysTT",
    );
    store.links.lock().unwrap().push(Link {
        tenant: tenant(),
        source: SourceName::parse("servicenow").unwrap(),
        ticket: ticket.clone(),
        api: OrangeApi::TroubleTicket,
        orange_id: "TT1".into(),
        created_at: now(),
    });
    reader.incidents.lock().unwrap().push(FakeIncident {
        id: "TT1".into(),
        updated: "2026-11-22T09:00:00.000Z".into(),
        status: "ongoing".into(),
        resolution: None,
        notes: vec![],
    });
    let mut s = settings(50);
    s.per_object_apis = vec![OrangeApi::TroubleTicket];
    let p = poller(&store, &reader, "replica-a", s);
    let rep = cycle(&p).await.unwrap();
    // One (empty of links) incident page, one get and one notes read for the open ticket.
    assert_eq!(rep.calls, 3);
    assert_eq!(
        remote_status(&store, &ticket).await.as_deref(),
        Some("ongoing")
    );
    reader.update("TT1", "2026-11-22T09:00:01.000Z", |t| {
        t.status = "closed".into()
    });
    let rep = cycle(&p).await.unwrap();
    assert_eq!(rep.calls, 3, "it moved: its notes are read too");
    assert_eq!(
        remote_status(&store, &ticket).await.as_deref(),
        Some("closed")
    );
    let rep = cycle(&p).await.unwrap();
    assert_eq!(rep.calls, 1, "a closed ticket is not read again");
}
