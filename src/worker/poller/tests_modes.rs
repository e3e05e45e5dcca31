//! The poller's watch modes against fakes: probing, falling back to re-reads when Orange
//! ignores or rejects the scan's sort or range filter, the re-read rotation and its bound.

use super::fakes::*;
use super::tests::{link, now, poller, settings, setup};
use super::{CycleReport, Poller, ScanMode, Support};
use crate::config::ScanChoice;

/// One cycle `minute` minutes after the tests' epoch (re-reads order by check time).
async fn cycle_at(p: &Poller, minute: i64) -> CycleReport {
    let mut out = p.tick(now() + time::Duration::minutes(minute)).await;
    out.remove(0).1.expect("cycle ok").expect("lease held")
}

fn auto(budget: u32) -> super::PollSettings {
    let mut s = settings(50);
    s.scan = ScanChoice::Auto;
    s.reread_budget = budget;
    s
}

fn mode(p: &Poller) -> ScanMode {
    p.modes()[0].2
}

/// Moves `INC{n}` to IN_PROGRESS at `stamp`.
fn progress(reader: &FakeReader, n: usize, stamp: &str) {
    reader.update(&format!("INC{n}"), stamp, |i| {
        i.status = "IN_PROGRESS".into();
        i.notes
            .push(note(&format!("N{n}"), "Engineer on site", true));
    });
}

/// Write-backs queued for ticket `sys{n}`.
fn queued_for(store: &MemStore, n: usize) -> usize {
    store
        .queued()
        .iter()
        .filter(|d| d.ticket.ticket() == format!("sys{n}"))
        .count()
}

#[tokio::test]
async fn auto_scans_incrementally_when_orange_honours_both_and_probes_only_once() {
    let (store, reader) = setup(3);
    let p = poller(&store, &reader, "a", auto(10));
    let first = cycle_at(&p, 0).await;
    assert_eq!(mode(&p), ScanMode::Incremental);
    assert_eq!(
        first.calls,
        2 + 1 + 3,
        "two probe calls, one list page, first sighting: three notes reads"
    );
    cycle_at(&p, 1).await;
    assert_eq!(reader.probes.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(store.checks.lock().unwrap().is_empty(), "nothing re-read");
}

#[tokio::test]
async fn ignored_sort_and_filter_miss_changes_when_forced_and_auto_rereads_them_exactly_once() {
    for choice in [ScanChoice::Incremental, ScanChoice::Auto] {
        let (store, reader) = setup(6);
        // Sort and range filter both ignored: Orange lists every object, oldest created first.
        *reader.scan.lock().unwrap() = Some((Support::Ignored, Support::Ignored));
        let mut s = auto(2);
        s.scan = choice;
        s.page_size = 2;
        let p = poller(&store, &reader, "a", s);
        // ceil(6 / 2) = 3 cycles see every object once: the first sighting.
        for m in 0..3 {
            cycle_at(&p, m).await;
        }
        let base = store.queued().len();
        let before = queued_for(&store, 5);
        // The newest-created incident changes: with the sort ignored (oldest created first)
        // it stays on the last page, below objects older than the watermark.
        progress(&reader, 5, "2026-11-22T10:30:00.000Z");
        for m in 3..6 {
            cycle_at(&p, m).await;
        }
        let seen = store.queued().len() - base;
        match choice {
            ScanChoice::Incremental => assert_eq!(seen, 0, "the trusting scan misses it"),
            _ => {
                assert_eq!(mode(&p), ScanMode::Reread);
                assert_eq!(seen, 2, "its status and its note, once each");
                assert_eq!(queued_for(&store, 5) - before, 2);
            }
        }
    }
}

#[tokio::test]
async fn a_rejected_range_filter_never_fails_a_cycle_in_auto() {
    let (store, reader) = setup(4);
    *reader.scan.lock().unwrap() = Some((Support::Honoured, Support::Rejected));
    let p = poller(&store, &reader, "a", auto(4));
    let rep = cycle_at(&p, 0).await;
    assert!(rep.failed_apis.is_empty());
    assert_eq!(mode(&p), ScanMode::Reread);
    let before = queued_for(&store, 3);
    progress(&reader, 3, "2026-11-22T10:30:00.000Z");
    let rep = cycle_at(&p, 1).await;
    assert!(rep.failed_apis.is_empty());
    assert_eq!(queued_for(&store, 3) - before, 2);
    // Four GETs, one notes read for the one that moved: quiet objects cost one call.
    assert_eq!(rep.calls, 4 + 1);
}

#[tokio::test]
async fn a_scan_that_starts_failing_is_probed_again_and_the_cycle_rereads_instead() {
    let (store, reader) = setup(3);
    let p = poller(&store, &reader, "a", auto(5));
    cycle_at(&p, 0).await;
    assert_eq!(mode(&p), ScanMode::Incremental);
    *reader.scan.lock().unwrap() = Some((Support::Rejected, Support::Honoured));
    let before = queued_for(&store, 1);
    progress(&reader, 1, "2026-11-22T10:30:00.000Z");
    let rep = cycle_at(&p, 1).await;
    assert!(rep.failed_apis.is_empty(), "{rep:?}");
    assert_eq!(mode(&p), ScanMode::Reread);
    assert_eq!(reader.probes.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(queued_for(&store, 1) - before, 2);
}

#[tokio::test]
async fn a_failing_probe_rereads_and_probes_again_until_it_answers() {
    let (store, reader) = setup(2);
    *reader.probe_fails.lock().unwrap() = true;
    let p = poller(&store, &reader, "a", auto(5));
    cycle_at(&p, 0).await;
    cycle_at(&p, 1).await;
    assert_eq!(mode(&p), ScanMode::Reread);
    assert_eq!(reader.probes.load(std::sync::atomic::Ordering::SeqCst), 2);
    *reader.probe_fails.lock().unwrap() = false;
    cycle_at(&p, 2).await;
    assert_eq!(mode(&p), ScanMode::Incremental);
    cycle_at(&p, 3).await;
    assert_eq!(reader.probes.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn rereads_take_the_least_recently_checked_first_and_a_restart_continues_the_rotation() {
    let (store, reader) = setup(5);
    let mut s = auto(2);
    s.scan = ScanChoice::Reread;
    let p = poller(&store, &reader, "a", s.clone());
    let order = |store: &MemStore, at: i64| {
        let c = store.checks.lock().unwrap();
        let mut v: Vec<String> = c
            .iter()
            .filter(|(_, (t, _))| *t == now() + time::Duration::minutes(at))
            .map(|(k, _)| k.ticket().to_owned())
            .collect();
        v.sort();
        v
    };
    let rep = cycle_at(&p, 0).await;
    assert_eq!(
        rep.calls,
        2 * 2,
        "two GETs and, first sighting, two notes reads"
    );
    assert_eq!(order(&store, 0), ["sys0", "sys1"]);
    cycle_at(&p, 1).await;
    assert_eq!(order(&store, 1), ["sys2", "sys3"]);
    drop(p);
    let restarted = poller(&store, &reader, "a", s);
    cycle_at(&restarted, 2).await;
    assert_eq!(
        order(&store, 2),
        ["sys0", "sys4"],
        "sys4 never checked, then sys0"
    );
    assert_eq!(reader.probes.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn every_change_reaches_the_itsm_once_within_ceil_open_over_budget_cycles() {
    let (n, budget) = (7_usize, 3_u32);
    let bound = n.div_ceil(budget as usize) as i64;
    let (store, reader) = setup(n);
    *reader.scan.lock().unwrap() = Some((Support::Ignored, Support::Ignored));
    let p = poller(&store, &reader, "a", auto(budget));
    let mut minute = 0;
    for _ in 0..bound {
        cycle_at(&p, minute).await;
        minute += 1;
    }
    for changed in [0, 4, 6, 2] {
        let base = store.queued().len();
        let before = queued_for(&store, changed);
        progress(
            &reader,
            changed,
            &format!("2026-11-22T11:{minute:02}:00.000Z"),
        );
        for _ in 0..bound {
            cycle_at(&p, minute).await;
            minute += 1;
        }
        assert_eq!(
            store.queued().len() - base,
            2,
            "INC{changed} within {bound} cycles"
        );
        assert_eq!(queued_for(&store, changed) - before, 2);
    }
}

#[tokio::test]
async fn final_objects_are_not_reread_and_cost_no_budget() {
    let (store, reader) = setup(3);
    reader.update("INC1", "2026-11-22T09:59:00.000Z", |i| {
        i.status = "CLOSED".into()
    });
    let mut s = auto(10);
    s.scan = ScanChoice::Reread;
    let p = poller(&store, &reader, "a", s);
    cycle_at(&p, 0).await;
    let rep = cycle_at(&p, 1).await;
    assert_eq!(rep.calls, 2, "the two open ones, quiet: one GET each");
    let t = link(&MemStore::default(), 1);
    assert_eq!(
        store.checks.lock().unwrap().get(&t).map(|c| c.1),
        Some(true)
    );
}

#[tokio::test]
async fn auto_reprobes_every_interval_and_follows_orange_both_ways() {
    let (store, reader) = setup(3);
    *reader.scan.lock().unwrap() = Some((Support::Ignored, Support::Honoured));
    let mut s = auto(5);
    s.reprobe_every = std::time::Duration::from_secs(10 * 60);
    let p = poller(&store, &reader, "a", s);
    let probes = || reader.probes.load(std::sync::atomic::Ordering::SeqCst);
    cycle_at(&p, 0).await;
    assert_eq!(mode(&p), ScanMode::Reread);
    // Orange starts honouring the sort: nothing fails, so only the re-probe finds out.
    *reader.scan.lock().unwrap() = Some((Support::Honoured, Support::Honoured));
    cycle_at(&p, 9).await;
    assert_eq!((mode(&p), probes()), (ScanMode::Reread, 1), "not yet due");
    cycle_at(&p, 10).await;
    assert_eq!((mode(&p), probes()), (ScanMode::Incremental, 2));
    // A re-probe that confirms the mode changes nothing.
    cycle_at(&p, 20).await;
    assert_eq!((mode(&p), probes()), (ScanMode::Incremental, 3));
    // Orange stops honouring the range filter (ignored: the scan still succeeds).
    *reader.scan.lock().unwrap() = Some((Support::Honoured, Support::Ignored));
    cycle_at(&p, 25).await;
    assert_eq!(mode(&p), ScanMode::Incremental);
    cycle_at(&p, 30).await;
    assert_eq!((mode(&p), probes()), (ScanMode::Reread, 4));
}

#[tokio::test]
async fn undecidable_probes_reread_and_are_asked_again_each_cycle_until_they_decide() {
    let (store, reader) = setup(3);
    *reader.scan.lock().unwrap() = Some((Support::Unknown, Support::Unknown));
    let p = poller(&store, &reader, "a", auto(5));
    let probes = || reader.probes.load(std::sync::atomic::Ordering::SeqCst);
    cycle_at(&p, 0).await;
    cycle_at(&p, 1).await;
    assert_eq!((mode(&p), probes()), (ScanMode::Reread, 2));
    // The data is there now: the next cycle's probe decides.
    *reader.scan.lock().unwrap() = Some((Support::Honoured, Support::Honoured));
    cycle_at(&p, 2).await;
    cycle_at(&p, 3).await;
    assert_eq!((mode(&p), probes()), (ScanMode::Incremental, 3));

    // One verdict is enough when it refutes the scan: settled, not asked every cycle.
    let (store, reader) = setup(3);
    *reader.scan.lock().unwrap() = Some((Support::Unknown, Support::Rejected));
    let p = poller(&store, &reader, "a", auto(5));
    cycle_at(&p, 0).await;
    cycle_at(&p, 1).await;
    let probes = reader.probes.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((mode(&p), probes), (ScanMode::Reread, 1));
}
