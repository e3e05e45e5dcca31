//! `OrangeClient::deliver` against the stub: the read-back of an earlier try comes before the
//! call, and only when an earlier try may have been sent.

use super::*;
use crate::worker::Delivered;

#[tokio::test]
async fn a_call_whose_earlier_try_may_have_been_sent_is_read_back_before_it_is_sent() {
    let (stub, _, c) = started().await;
    let note = OrangeCall {
        op: OrangeOp::AddIncidentNote,
        body: json!({"text": "router rebooted"}),
        external_ref: None,
        lookups: vec![],
    };
    let earlier = Some(time::OffsetDateTime::now_utc());
    answer(&stub, 200, r#"[{"id": "N1", "text": "router rebooted"}]"#);
    let found = c.deliver(&note, Some("INC-1"), earlier).await.unwrap();
    assert_eq!(found, Delivered::AlreadyApplied { created_id: None });
    push(&stub, 200, vec![], "[]");
    let sent = c.deliver(&note, Some("INC-1"), earlier).await.unwrap();
    assert!(matches!(sent, Delivered::Sent { .. }), "{sent:?}");
    let first = c.deliver(&note, Some("INC-1"), None).await.unwrap();
    assert!(matches!(first, Delivered::Sent { .. }), "{first:?}");
    let seen: Vec<String> = stub
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(method, path, ..)| format!("{method} {}", path.split('?').next().unwrap()))
        .collect();
    let notes = "/incidents/INC-1/notes";
    assert!(seen.iter().all(|s| s.ends_with(notes)), "{seen:?}");
    let methods: Vec<&str> = seen.iter().map(|s| s.split(' ').next().unwrap()).collect();
    assert_eq!(
        methods,
        ["GET", "GET", "POST", "POST"],
        "no read-back without an earlier try"
    );
}
