//! The audit log's types: what an operator did, recorded by the admin API and the console
//! (`Store::record_audit`) and read back newest first (`Store::audit_log`).

use serde::Serialize;

use crate::domain::{TenantId, Timestamp};

/// One operator action to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub at: Timestamp,
    /// The token's name (`admin` for `admin.token`).
    pub actor: String,
    /// `replay`, `discard`, `link`, `reload`, `sign-in`, … (`http::admin::audit` names them).
    pub action: String,
    /// The tenant acted on; `None` for what concerns no one tenant (reload, sign-in).
    pub tenant: Option<TenantId>,
    /// What was acted on: a delivery or event id, a ticket key, `*`.
    pub target: String,
    /// `ok`, or `refused` / `failed` with why in `detail`.
    pub outcome: String,
    /// A short account: what came of it, or why it did not happen.
    pub detail: String,
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub tenant: Option<TenantId>,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

/// Which entries to read: newest first, below `before` (keyset paging).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// `None`: every entry; `Some(ts)`: only entries about these tenants (entries about no
    /// tenant are left out).
    pub tenants: Option<Vec<TenantId>>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// An `audit_log` row as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub tenant: Option<String>,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = super::StoreError;
    fn try_from(r: AuditRow) -> Result<Self, Self::Error> {
        Ok(AuditEntry {
            id: r.id,
            at: super::codec::ts(r.at)?,
            actor: r.actor,
            action: r.action,
            tenant: r
                .tenant
                .map(TenantId::parse)
                .transpose()
                .map_err(|e| super::StoreError::Corrupt(format!("audit tenant: {e}")))?,
            target: r.target,
            outcome: r.outcome,
            detail: r.detail,
        })
    }
}

/// The columns both backends select, in [`AuditRow`]'s order.
pub(crate) const AUDIT_COLS: &str = "id, at, actor, action, tenant, target, outcome, detail";

/// Builds the listing query for `q` on either backend: one SQL text, placeholders by sqlx.
pub(crate) fn list_query<DB>(q: &AuditQuery) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    DB::Arguments: Default,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut b = sqlx::QueryBuilder::new(format!("SELECT {AUDIT_COLS} FROM audit_log WHERE 1 = 1"));
    if let Some(before) = q.before {
        b.push(" AND id < ").push_bind(before);
    }
    if let Some(ts) = &q.tenants {
        b.push(" AND tenant IN (");
        let mut sep = b.separated(", ");
        // An empty scope matches nothing: `IN (NULL)` is never true.
        if ts.is_empty() {
            sep.push("NULL");
        }
        for t in ts {
            sep.push_bind(t.as_str().to_owned());
        }
        b.push(")");
    }
    b.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(q.limit.max(1)));
    b
}

/// The insert both backends run, `?`-free: sqlx numbers the placeholders.
pub(crate) fn insert_query<DB>(e: &NewAudit) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    DB::Arguments: Default,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    Option<String>: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut b = sqlx::QueryBuilder::new(
        "INSERT INTO audit_log (at, actor, action, tenant, target, outcome, detail) ",
    );
    b.push_values([e], |mut row, e| {
        row.push_bind(super::codec::ms(e.at))
            .push_bind(e.actor.clone())
            .push_bind(e.action.clone())
            .push_bind(e.tenant.as_ref().map(|t| t.as_str().to_owned()))
            .push_bind(e.target.clone())
            .push_bind(e.outcome.clone())
            .push_bind(e.detail.clone());
    });
    b
}
