//! The poller's per-link check times: least recently checked first, final objects left out,
//! and the order kept by the store (a restart continues where the last process stopped).

use std::sync::Arc;

use itsm_bridge::domain::{AttemptOutcome::Success, OrangeApi, TicketKey};
use itsm_bridge::store::Store;
use time::Duration;

use super::super::{event, now, tenant, ticket};
use super::{LEASE, create, done_linking, finish};

/// Links `names` to `api` objects through the delivery path, as the dispatcher does.
async fn linked(s: &Arc<dyn Store>, api: OrangeApi, names: &[&str]) -> Vec<TicketKey> {
    let t0 = now();
    let tickets: Vec<TicketKey> = names.iter().map(|n| ticket(n)).collect();
    for t in &tickets {
        s.ingest(event(
            &format!("chk-{}", t.ticket()),
            t,
            t0,
            vec![create(t, "")],
        ))
        .await
        .unwrap();
    }
    let ds = s.claim_due("w", t0, t0 + LEASE, 100).await.unwrap();
    for d in ds {
        let fin = done_linking(api, format!("O-{}", d.ticket.ticket()));
        finish(&**s, d.id, "w", t0, Success, fin).await;
    }
    tickets
}

fn names(links: &[itsm_bridge::domain::Link]) -> Vec<&str> {
    links.iter().map(|l| l.ticket.ticket()).collect()
}

pub async fn links_to_check_come_least_recently_checked_first_without_final_ones(
    s: Arc<dyn Store>,
) {
    let t = linked(&s, OrangeApi::Incident, &["C-1", "C-2", "C-3", "C-4"]).await;
    linked(&s, OrangeApi::Ordering, &["C-9"]).await;
    let me = tenant();
    let first = s.links_to_check(&me, OrangeApi::Incident, 2).await.unwrap();
    assert_eq!(names(&first), ["C-1", "C-2"], "never checked, by ticket");

    let t0 = now();
    s.mark_checked(vec![(t[0].clone(), false), (t[1].clone(), false)], t0)
        .await
        .unwrap();
    let next = s.links_to_check(&me, OrangeApi::Incident, 2).await.unwrap();
    assert_eq!(names(&next), ["C-3", "C-4"], "unchecked before checked");

    s.mark_checked(
        vec![(t[2].clone(), false), (t[3].clone(), true)],
        t0 + Duration::seconds(1),
    )
    .await
    .unwrap();
    s.mark_checked(vec![(t[0].clone(), false)], t0 + Duration::seconds(2))
        .await
        .unwrap();
    let all = s
        .links_to_check(&me, OrangeApi::Incident, 10)
        .await
        .unwrap();
    assert_eq!(
        names(&all),
        ["C-2", "C-3", "C-1"],
        "oldest check first; the final C-4 is left out"
    );
    let orders = s
        .links_to_check(&me, OrangeApi::Ordering, 10)
        .await
        .unwrap();
    assert_eq!(names(&orders), ["C-9"], "per API");
    assert!(
        s.links_to_check(&me, OrangeApi::TroubleTicket, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
