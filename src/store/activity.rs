//! A tenant's recent activity and its queue, for the console's overview
//! (`Store::tenant_activity`): per-minute counts of events and attempts since an instant, and
//! the tenant's pending, waiting, in-flight and dead deliveries and parked events now.
//!
//! The SQL is written once and runs on both backends (sqlx numbers the placeholders). Each
//! query reads an index: events by `(tenant, id)` from the first id of the window (ids are
//! UUIDv7, so they sort by time), attempts by `at` (migration 0009), deliveries and parked
//! events by the partial indexes of their states.

use serde::Serialize;

use crate::domain::{TenantId, Timestamp};

/// Counts of one minute (`minute` = unix minutes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MinuteCounts {
    pub minute: i64,
    /// Webhooks accepted.
    pub events: u64,
    /// Of which matched no route.
    pub unrouted: u64,
    /// Of which were parked (and still are).
    pub parked: u64,
    /// Attempts that delivered.
    pub delivered: u64,
    /// Attempts that failed (to be retried, or dead).
    pub failed: u64,
    /// Attempts of Orange calls (write-backs to the ITSMs left out): what the tenant's Orange
    /// rate budget was spent on.
    pub orange_calls: u64,
}

/// What the overview shows of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TenantActivity {
    /// Minutes with anything in them, oldest first.
    pub minutes: Vec<MinuteCounts>,
    pub pending: u64,
    pub waiting_link: u64,
    pub in_flight: u64,
    pub dead: u64,
    /// Events parked now (all time).
    pub parked: u64,
    /// `created_at` of the oldest pending delivery.
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_pending: Option<Timestamp>,
}

/// The smallest event id at or after `t` (UUIDv7 with every random bit zero), as stored.
pub(crate) fn first_id_at(t: Timestamp) -> String {
    let ms = u64::try_from(super::codec::ms(t).max(0)).unwrap_or(0);
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

/// What [`minutes_query`] counts per minute.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Minutes {
    /// `(minute, events, unrouted, parked)`.
    Events,
    /// `(minute, delivered, failed, orange calls)` attempts. A delivery's target is JSON
    /// tagged by `target` (`orange` or `itsm`); `->>` reads it on both backends (TEXT on
    /// SQLite, JSONB on PostgreSQL).
    Attempts,
}

/// The [`Minutes`] of `tenant` since `since`, by minute.
pub(crate) fn minutes_query<DB>(
    what: Minutes,
    tenant: &TenantId,
    since: Timestamp,
) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    DB::Arguments: Default,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut b;
    match what {
        Minutes::Events => {
            b = sqlx::QueryBuilder::new(
                "SELECT received_at / 60000 AS m, COUNT(*), \
                 COUNT(*) FILTER (WHERE unrouted), COUNT(parked) \
                 FROM events WHERE tenant = ",
            );
            b.push_bind(tenant.as_str().to_owned())
                .push(" AND id >= ")
                .push_bind(first_id_at(since));
        }
        Minutes::Attempts => {
            b = sqlx::QueryBuilder::new(
                "SELECT a.at / 60000 AS m, \
                 COUNT(*) FILTER (WHERE a.outcome = 'success'), \
                 COUNT(*) FILTER (WHERE a.outcome <> 'success'), \
                 COUNT(*) FILTER (WHERE c.target ->> 'target' = 'orange') \
                 FROM attempts a JOIN deliveries d ON d.id = a.delivery_id \
                 JOIN delivery_calls c ON c.delivery_id = a.delivery_id WHERE a.at >= ",
            );
            b.push_bind(super::codec::ms(since))
                .push(" AND d.tenant = ")
                .push_bind(tenant.as_str().to_owned());
        }
    }
    b.push(" GROUP BY m ORDER BY m");
    b
}

/// Which deliveries of a tenant [`queue_query`] counts. One query each, so that each reads
/// its own partial index (a tenant's deliveries have no index of their own, and a query on
/// several states at once is planned as a scan of the table on SQLite).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Queue {
    Pending,
    WaitingLink,
    InFlight,
    Dead,
}

impl Queue {
    pub(crate) const ALL: [Queue; 4] = [
        Queue::Pending,
        Queue::WaitingLink,
        Queue::InFlight,
        Queue::Dead,
    ];
}

/// `(count, oldest created_at)` of `tenant`'s deliveries in `q`.
pub(crate) fn queue_query<DB>(tenant: &TenantId, q: Queue) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    DB::Arguments: Default,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let which = match q {
        Queue::Pending => "state = 'pending' AND waiting_link IS NULL",
        Queue::WaitingLink => "state = 'pending' AND waiting_link IS NOT NULL",
        Queue::InFlight => "state = 'in_flight'",
        Queue::Dead => "state = 'dead'",
    };
    let mut b = sqlx::QueryBuilder::new(format!(
        "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE {which} AND tenant = "
    ));
    b.push_bind(tenant.as_str().to_owned());
    b
}

/// How many events of `tenant` are parked. `tenant || ''` keeps the planner off the
/// `(tenant, id)` index, which would walk every event of the tenant: the partial index of
/// parked events is the one to read (on both backends).
pub(crate) fn parked_query<DB>(tenant: &TenantId) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    DB::Arguments: Default,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut b = sqlx::QueryBuilder::new(
        "SELECT COUNT(*) FROM events WHERE parked IS NOT NULL AND tenant || '' = ",
    );
    b.push_bind(tenant.as_str().to_owned());
    b
}

fn n(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Puts the rows of the queries together.
pub(crate) fn assemble(
    events: Vec<(i64, i64, i64, i64)>,
    attempts: Vec<(i64, i64, i64, i64)>,
    queue: Vec<(Queue, i64, Option<i64>)>,
    parked: i64,
) -> super::StoreResult<TenantActivity> {
    let mut by_minute = std::collections::BTreeMap::<i64, MinuteCounts>::new();
    for (m, e, u, p) in events {
        let c = by_minute.entry(m).or_default();
        (c.events, c.unrouted, c.parked) = (n(e), n(u), n(p));
    }
    for (m, ok, failed, orange) in attempts {
        let c = by_minute.entry(m).or_default();
        (c.delivered, c.failed, c.orange_calls) = (n(ok), n(failed), n(orange));
    }
    let mut a = TenantActivity {
        minutes: by_minute
            .into_iter()
            .map(|(minute, c)| MinuteCounts { minute, ..c })
            .collect(),
        parked: n(parked),
        ..TenantActivity::default()
    };
    for (q, count, oldest) in queue {
        match q {
            Queue::Pending => {
                a.pending = n(count);
                a.oldest_pending = oldest.map(super::codec::ts).transpose()?;
            }
            Queue::WaitingLink => a.waiting_link = n(count),
            Queue::InFlight => a.in_flight = n(count),
            Queue::Dead => a.dead = n(count),
        }
    }
    Ok(a)
}
