//! This replica among the others on a shared store: its name in leases, its heartbeat, and
//! its share of each Orange credential's rate budget.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::orange::OrangeClients;
use crate::store::Store;

/// How often a replica says it is alive; it counts as gone after three missed beats.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Announces this replica before it sends anything, so the others shrink their share of each
/// credential's budget first: on a shared store, beat, wait one beat (they learn of us),
/// beat again and take our share.
pub(super) async fn join(store: &dyn Store, orange: &OrangeClients, replica: &str) {
    let beat = || async {
        let now = time::OffsetDateTime::now_utc();
        store.heartbeat(replica, now, now + HEARTBEAT * 3).await
    };
    if let Ok(n) = beat().await {
        orange.set_replicas(n);
        if store.backend() != "sqlite" {
            tokio::time::sleep(HEARTBEAT + HEARTBEAT / 2).await;
            if let Ok(n) = beat().await {
                orange.set_replicas(n);
            }
        }
    }
}

/// Keeps this replica's heartbeat fresh and its share of the rate budgets current.
pub(super) async fn heartbeat(
    store: Arc<dyn Store>,
    orange: Arc<OrangeClients>,
    replica: String,
    token: CancellationToken,
) {
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(HEARTBEAT) => {}
        }
        let now = time::OffsetDateTime::now_utc();
        match store.heartbeat(&replica, now, now + HEARTBEAT * 3).await {
            Ok(n) => orange.set_replicas(n),
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed; keeping the current rate share")
            }
        }
    }
}

/// This replica's name in leases: the host name (the pod name on Kubernetes) plus a random
/// suffix, so a restarted process never mistakes its predecessor's leases for its own.
pub(super) fn replica_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "itsm-bridge".into());
    format!("{host}-{}", uuid::Uuid::new_v4().simple())
}
