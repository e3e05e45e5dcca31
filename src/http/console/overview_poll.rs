//! The overview's account of a tenant's last poll cycle: how long ago it ended, how it went,
//! its figures and modes, and a warning when it is older than three poll intervals (the
//! poller may have stopped) or failed. A replica that found the lease held elsewhere is named
//! below it.

use std::fmt::Write as _;

use super::html::{age, esc, notice, when};
use crate::ops::overview::{PollView, STALE_AFTER_INTERVALS};
use crate::store::{CycleOutcome, PollCycle};

/// The `<section>` of `v`.
pub fn section(v: &PollView) -> String {
    let mut out = String::from("<section class=\"poll\"><h3>Last poll cycle</h3>");
    if !v.enabled {
        out.push_str("<p class=\"empty\">The poller is off (<code>poller.enabled</code>).</p>");
        return out + "</section>";
    }
    match &v.last {
        None => out.push_str("<p class=\"empty\">No poll cycle recorded yet.</p>"),
        Some(c) => {
            let ago = age(v.age_secs.unwrap_or(0));
            if v.stale {
                out.push_str(&notice(
                    "warn",
                    &format!(
                        "The last poll cycle ended {ago} ago, more than {STALE_AFTER_INTERVALS} \
                         poll intervals ({} s each): the poller may have stopped.",
                        v.interval_secs
                    ),
                ));
            }
            if c.outcome == CycleOutcome::Error {
                out.push_str(&notice(
                    "error",
                    &format!(
                        "The last poll cycle failed: {}",
                        c.detail.as_deref().unwrap_or("")
                    ),
                ));
            }
            out.push_str(&figures(c, &ago));
        }
    }
    for skip in v
        .records
        .iter()
        .filter(|c| c.outcome == CycleOutcome::Skipped)
    {
        let _ = write!(
            out,
            "<p class=\"hint\">Replica {} skipped its cycle at {} UTC: the lease is held by \
             another replica.</p>",
            esc(&skip.replica),
            when(skip.ended_at)
        );
    }
    out + "</section>"
}

/// The figures of a cycle that ran, ended `ago`.
fn figures(c: &PollCycle, ago: &str) -> String {
    let outcome = match (&c.outcome, &c.detail) {
        (CycleOutcome::Ok, Some(d)) => format!("ok ({d})"),
        (o, _) => o.as_str().to_owned(),
    };
    let modes = c
        .modes
        .iter()
        .map(|(api, mode)| format!("{api}: {mode}"))
        .collect::<Vec<_>>()
        .join(", ");
    let took = (c.ended_at - c.started_at).whole_milliseconds();
    format!(
        "<dl class=\"figures\">\
         <div><dt>Ended</dt><dd><time datetime=\"{at}\">{ago} ago</time></dd></div>\
         <div><dt>Outcome</dt><dd class=\"outcome {cls}\">{outcome}</dd></div>\
         <div><dt>Took</dt><dd>{took} ms</dd></div>\
         <div><dt>Orange calls</dt><dd>{calls}</dd></div>\
         <div><dt>Changes</dt><dd>{changes}</dd></div>\
         <div><dt>Write-backs planned</dt><dd>{writebacks}</dd></div>\
         <div><dt>Failed reads</dt><dd>{failed}</dd></div>\
         <div><dt>Mode</dt><dd>{modes}</dd></div>\
         <div><dt>Replica</dt><dd>{replica}</dd></div>\
         </dl>",
        at = esc(&format!("{}Z", when(c.ended_at))),
        ago = esc(ago),
        cls = c.outcome.as_str(),
        outcome = esc(&outcome),
        calls = c.orange_calls,
        changes = c.changes,
        writebacks = c.writebacks,
        failed = c.failed_reads,
        modes = esc(&modes),
        replica = esc(&c.replica),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::TenantId;

    fn view(outcome: CycleOutcome, age_secs: i64, stale: bool) -> PollView {
        let ended = time::macros::datetime!(2026-12-01 10:00:00 UTC);
        let c = PollCycle {
            tenant: TenantId::parse("acme").unwrap(),
            replica: "pod-<1>".into(),
            started_at: ended - time::Duration::milliseconds(340),
            ended_at: ended,
            outcome,
            detail: (outcome == CycleOutcome::Error).then(|| "orange read failed: 503".into()),
            orange_calls: 4,
            changes: 1,
            writebacks: 2,
            failed_reads: 0,
            modes: BTreeMap::from([("incident".into(), "reread".into())]),
        };
        PollView {
            enabled: true,
            interval_secs: 30,
            last: Some(c.clone()),
            age_secs: Some(age_secs),
            stale,
            records: vec![c],
        }
    }

    #[test]
    fn a_fresh_cycle_shows_its_figures_and_no_warning() {
        let html = section(&view(CycleOutcome::Ok, 12, false));
        for shown in [
            "12 s ago",
            "<dd class=\"outcome ok\">ok</dd>",
            "<dd>340 ms</dd>",
            "<dt>Write-backs planned</dt><dd>2</dd>",
            "incident: reread",
            "pod-&lt;1&gt;",
        ] {
            assert!(html.contains(shown), "{shown:?} not in {html}");
        }
        assert!(!html.contains("notice"), "{html}");
    }

    #[test]
    fn a_stale_or_failed_cycle_is_a_warning() {
        let html = section(&view(CycleOutcome::Ok, 600, true));
        assert!(
            html.contains("notice warn")
                && html.contains("10 min ago, more than 3 poll intervals (30 s each)"),
            "{html}"
        );
        let html = section(&view(CycleOutcome::Error, 5, false));
        assert!(
            html.contains("notice error") && html.contains("failed: orange read failed: 503"),
            "{html}"
        );
        let off = PollView {
            enabled: false,
            ..view(CycleOutcome::Ok, 5, false)
        };
        assert!(section(&off).contains("The poller is off"));
    }
}
