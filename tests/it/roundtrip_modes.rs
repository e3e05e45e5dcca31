//! Poll-back under every behaviour the simulator can imitate for the scan's sort
//! (`sort_fields`) and range filter (`range_filters`): honoured, ignored and rejected. The
//! poller is driven one cycle at a time next to a running gateway (whose dispatcher delivers
//! the write-backs to the Jira simulator): with the `auto` scan it probes, picks the
//! incremental scan only when both are honoured, and otherwise re-reads the open links two
//! per cycle; every Orange status change and note reaches Jira exactly once within
//! ceil(open links ÷ budget) cycles, and a quiet cycle costs what benches/README.md says.

use std::sync::Arc;
use std::time::Duration;

use itsm_bridge::config::ScanChoice;
use itsm_bridge::domain::{OrangeApi, SourceName, TenantId, TicketKey};
use itsm_bridge::worker::poller::{CycleReport, PollSettings, Poller, ScanMode};
use serde_json::{Value, json};

use crate::sim_support::Sim;
use crate::support::jira::{self, created_webhook, post};
use crate::support::{TestApp, eventually, orange};

const LINKS: usize = 5;
const BUDGET: u32 = 2;

struct Rig {
    sim: Sim,
    app: TestApp,
    poller: Poller,
    /// (Jira issue id, Orange incident id), oldest first.
    tickets: Vec<(String, String)>,
    clock: time::OffsetDateTime,
    cycles: i64,
}

impl Rig {
    async fn start(sort: &str, range: &str) -> Rig {
        Self::start_with(sort, range, ScanChoice::Auto).await
    }

    async fn start_with(sort: &str, range: &str, scan: ScanChoice) -> Rig {
        // Cycles are a minute apart: no re-probe within these tests unless asked for.
        Self::start_reprobing(sort, range, scan, Duration::from_secs(24 * 3600)).await
    }

    async fn start_reprobing(
        sort: &str,
        range: &str,
        scan: ScanChoice,
        reprobe_every: Duration,
    ) -> Rig {
        let sim = Sim::start().await;
        sim.control(
            "/_sim/inferred",
            json!({"sort_fields": sort, "range_filters": range}),
        )
        .await;
        let db = tempfile::tempdir().unwrap();
        let config = jira::config_with(&sim.handle.base_url(), db.path(), "", false, "sandbox");
        let app = TestApp::spawn_config(config, db).await;
        let tenant = TenantId::parse("acme").unwrap();
        let mut tickets = Vec::new();
        for i in 0..LINKS {
            let issue = jira::create_incident(&sim, &format!("Site {i} down")).await;
            let id = issue["id"].as_str().unwrap().to_owned();
            post(&app, &created_webhook(&issue)).await;
            let key = TicketKey::new(&tenant, &SourceName::parse("jira").unwrap(), &id);
            let orange = app.orange_id(&key).await;
            tickets.push((id, orange));
        }
        let clients = crate::support::orange_clients(&app.config);
        let settings = PollSettings {
            interval: Duration::from_secs(1),
            page_size: 2,
            reconcile_every: None,
            apis: vec![OrangeApi::Incident],
            per_object_apis: vec![],
            scan,
            reread_budget: BUDGET,
            reprobe_every,
        };
        let poller = Poller::new(
            app.store.clone(),
            Arc::new(clients),
            app.mappings.clone(),
            vec![tenant],
            settings,
            "test-poller",
        );
        Rig {
            sim,
            app,
            poller,
            tickets,
            clock: time::OffsetDateTime::now_utc(),
            cycles: 0,
        }
    }

    /// One cycle, a minute after the previous one (re-reads rotate by check time).
    async fn cycle(&mut self) -> CycleReport {
        self.cycles += 1;
        let at = self.clock + time::Duration::minutes(self.cycles);
        let mut out = self.poller.tick(at).await;
        out.remove(0).1.expect("cycle").expect("lease")
    }

    /// The documented bound: ceil(open links ÷ budget) cycles.
    async fn bound_cycles(&mut self) -> Vec<CycleReport> {
        let mut reps = Vec::new();
        for _ in 0..LINKS.div_ceil(BUDGET as usize) {
            reps.push(self.cycle().await);
        }
        reps
    }

    async fn orange_works(&self, n: usize, note: &str) {
        orange::works(&self.sim, &self.tickets[n].1, note).await;
    }

    /// Waits until Jira shows issue `n` in progress with an Orange note about a dispatch.
    async fn in_progress_with_the_note(&self, n: usize) {
        let id = &self.tickets[n].0;
        eventually("the Jira issue in progress with the note", async || {
            let v = jira::issue(&self.sim, id).await;
            let noted = v["fields"]["comment"]["comments"]
                .as_array()?
                .iter()
                .any(|c| c["body"].as_str().is_some_and(|b| b.contains("dispatched")));
            (v["fields"]["status"]["name"] == "In Progress" && noted).then_some(())
        })
        .await;
    }

    /// Orange's sort now `sort` under the running poller; three cycles (a re-probe's period).
    async fn orange_sorts(&mut self, sort: &str) {
        self.sim
            .control("/_sim/inferred", json!({"sort_fields": sort}))
            .await;
        for _ in 0..3 {
            self.cycle().await;
        }
    }

    /// Jira writes the simulator accepted about issue `n`: (transition posts, comment texts).
    fn jira_writes(&self, n: usize) -> (usize, Vec<String>) {
        let id = &self.tickets[n].0;
        let ok: Vec<_> = self
            .sim
            .handle
            .journal(0)
            .into_iter()
            .filter(|e| e.method == "POST" && (200..300).contains(&e.status))
            .filter(|e| e.path.contains(&format!("/{id}/")))
            .collect();
        let transitions = ok
            .iter()
            .filter(|e| e.path.ends_with("/transitions"))
            .count();
        let comments = ok
            .iter()
            .filter(|e| e.path.ends_with("/comment"))
            .filter_map(|e| serde_json::from_str::<Value>(&e.body).ok())
            .filter_map(|b| b["body"].as_str().map(str::to_owned))
            .collect();
        (transitions, comments)
    }
}

async fn every_change_reaches_jira_once_within_the_bound(
    sort: &str,
    range: &str,
    expected: ScanMode,
    quiet_calls: u32,
) {
    let mut rig = Rig::start(sort, range).await;
    // First sightings (the Orange id recorded on each issue).
    let first = rig.bound_cycles().await;
    assert!(first.iter().all(|r| r.failed_apis.is_empty()), "{first:?}");
    assert_eq!(rig.poller.modes()[0].2, expected, "{sort}/{range}");

    // The oldest-created and the newest-created incidents move and get an Orange note.
    for n in [0, LINKS - 1] {
        rig.orange_works(n, &format!("Engineer dispatched to site {n}"))
            .await;
    }
    let reps = rig.bound_cycles().await;
    assert!(reps.iter().all(|r| r.failed_apis.is_empty()), "{reps:?}");
    assert_eq!(
        reps.iter().map(|r| r.changes).sum::<u32>(),
        2,
        "both changes seen within {} cycles ({sort}/{range})",
        LINKS.div_ceil(BUDGET as usize)
    );
    for n in [0, LINKS - 1] {
        rig.in_progress_with_the_note(n).await;
    }

    // More cycles change nothing, and a quiet cycle costs its mode's calls.
    let quiet = rig.bound_cycles().await;
    assert!(quiet.iter().all(|r| r.writebacks == 0), "{quiet:?}");
    assert!(
        quiet.iter().all(|r| r.calls == quiet_calls),
        "{sort}/{range}: {:?}",
        quiet.iter().map(|r| r.calls).collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 0..LINKS {
        let (transitions, comments) = rig.jira_writes(n);
        let moved = n == 0 || n == LINKS - 1;
        assert_eq!(transitions, usize::from(moved), "issue {n}");
        let ours: Vec<_> = comments
            .iter()
            .filter(|c| c.contains("dispatched"))
            .collect();
        assert_eq!(ours.len(), usize::from(moved), "issue {n}: {comments:?}");
    }
    rig.app.stop().await;
}

/// One test per behaviour of the sort and the range filter: the scan mode `auto` picks and
/// what a quiet cycle costs in it.
macro_rules! every_change_reaches_jira_once {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $sort:literal, $range:literal => $mode:ident, $quiet_calls:expr;
    )*) => {$(
        $(#[doc = $doc])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mode = ScanMode::$mode;
            every_change_reaches_jira_once_within_the_bound($sort, $range, mode, $quiet_calls).await;
        }
    )*};
}

every_change_reaches_jira_once! {
    /// A quiet cycle: one list page, which ends at the watermark.
    poll_back_scans_incrementally_when_sort_and_range_filter_are_honoured:
        "honour", "apply" => Incremental, 1;
    /// A quiet cycle: one GET per re-read link (their notes are read only when they moved).
    poll_back_rereads_when_the_sort_is_ignored:
        "ignore", "apply" => Reread, BUDGET;
    poll_back_rereads_when_the_range_filter_is_ignored:
        "honour", "ignore" => Reread, BUDGET;
    poll_back_rereads_when_the_sort_is_rejected:
        "reject", "apply" => Reread, BUDGET;
    poll_back_rereads_when_the_range_filter_is_rejected:
        "honour", "reject" => Reread, BUDGET;
    poll_back_rereads_when_sort_and_range_filter_are_both_ignored:
        "ignore", "ignore" => Reread, BUDGET;
}

/// What `auto` protects from: trusting the scan when Orange ignores both loses a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_incremental_scan_misses_a_change_when_sort_and_range_filter_are_ignored() {
    let mut rig = Rig::start_with("ignore", "ignore", ScanChoice::Incremental).await;
    rig.bound_cycles().await;
    rig.orange_works(LINKS - 1, "Engineer dispatched").await;
    let reps = rig.bound_cycles().await;
    assert_eq!(reps.iter().map(|r| r.changes).sum::<u32>(), 0, "{reps:?}");
    rig.app.stop().await;
}

/// Orange starts honouring the sort under a running poller, and later stops: the periodic
/// re-probe follows it both ways (nothing fails in between, so nothing else would), the gauge
/// with it, and no change is lost or doubled on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reprobe_moves_poll_back_between_reread_and_incremental_as_orange_changes() {
    // Cycles are a minute apart: a re-probe every third cycle.
    let mut rig = Rig::start_reprobing(
        "ignore",
        "apply",
        ScanChoice::Auto,
        Duration::from_secs(180),
    )
    .await;
    rig.bound_cycles().await;
    assert_eq!(rig.poller.modes()[0].2, ScanMode::Reread);

    rig.orange_sorts("honour").await;
    assert_eq!(rig.poller.modes()[0].2, ScanMode::Incremental);
    rig.orange_works(LINKS - 1, "Engineer dispatched to the last site")
        .await;
    let seen: u32 = rig.bound_cycles().await.iter().map(|r| r.changes).sum();
    assert_eq!(seen, 1, "the scan sees the change once");

    rig.orange_sorts("ignore").await;
    assert_eq!(rig.poller.modes()[0].2, ScanMode::Reread);
    rig.orange_works(0, "Engineer dispatched to the first site")
        .await;
    let seen: u32 = rig.bound_cycles().await.iter().map(|r| r.changes).sum();
    assert_eq!(seen, 1, "the re-reads see the change once");

    for n in [0, LINKS - 1] {
        rig.in_progress_with_the_note(n).await;
        let (transitions, comments) = rig.jira_writes(n);
        assert_eq!(transitions, 1, "issue {n}");
        assert_eq!(
            comments.iter().filter(|c| c.contains("dispatched")).count(),
            1,
            "issue {n}: {comments:?}"
        );
    }
    rig.app.stop().await;
}
