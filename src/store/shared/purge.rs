//! What a purge step decides the same way on both backends, before any SQL: how many rows it
//! looks at, and which of the deliveries it read are old enough.

use crate::domain::DeliveryId;
use crate::store::{PurgeCursor, PurgeRules};

/// Rows a purge step looks at (at least one).
pub(in crate::store) fn purge_batch(rules: &PurgeRules) -> i64 {
    i64::from(rules.batch.max(1))
}

/// A delivery a purge step reads: id, event id, `created_at`.
pub(in crate::store) type PurgeRow = (i64, Option<String>, i64);

/// Of the deliveries a purge step read after its cursor (`rows`, by id, at most `batch`):
/// those created before `bound`, up to the first that was not (nothing after a young row can
/// be past retention yet), and where the next step starts (`None`: this one reached a young
/// row or the end).
pub(in crate::store) fn purge_window(
    rows: &[PurgeRow],
    bound: i64,
    batch: i64,
) -> (&[PurgeRow], Option<PurgeCursor>) {
    let young = rows.iter().position(|(_, _, created)| *created >= bound);
    let next = match (young, rows.last()) {
        (None, Some((id, ..))) if rows.len() as i64 == batch => Some(PurgeCursor::Finished {
            after: Some(DeliveryId(*id)),
        }),
        _ => None,
    };
    (&rows[..young.unwrap_or(rows.len())], next)
}
