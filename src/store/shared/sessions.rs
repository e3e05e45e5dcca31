//! The console's sessions ([`crate::store::SessionStore`]): the same SQL on both backends.

/// The [`crate::store::SessionStore`] impl, the same SQL on both backends (see
/// `shared::store_roles!`).
macro_rules! session_store {
    ($store:ty, read: $read:ident, write: $write:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::SessionStore for $store {
            async fn start_session(
                &self,
                s: &$crate::store::ConsoleSession,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::codec::ms;
                let mut tx = begin(&self.$write).await?;
                // Expired sessions go as new ones come: the table holds about the live ones.
                sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                    .bind(ms(s.created_at))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO console_sessions (id_hash, principal, role, tenants, csrf, \
                     created_at, last_seen, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&s.id_hash)
                .bind($crate::store::text::strip_nul_ref(&s.principal).into_owned())
                .bind(&s.role)
                .bind($crate::store::sessions::tenants_column(s.tenants.as_deref()))
                .bind(&s.csrf)
                .bind(ms(s.created_at))
                .bind(ms(s.last_seen))
                .bind(ms(s.expires_at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session(
                &self,
                id_hash: &str,
                now: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<Option<$crate::store::ConsoleSession>> {
                $crate::store::shared::select!(
                    optional $crate::store::sessions::SessionRow,
                    [$crate::store::sessions::session_cols!()]
                    " FROM console_sessions WHERE id_hash = $1 AND expires_at > $2";
                    on &self.$read;
                    id_hash, $crate::store::codec::ms(now)
                )
            }

            async fn touch_session(
                &self,
                id_hash: &str,
                last_seen: $crate::domain::Timestamp,
                expires_at: $crate::domain::Timestamp,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::codec::ms;
                // Only a live session moves on: one that expired meanwhile stays ended.
                let n = sqlx::query(
                    "UPDATE console_sessions SET last_seen = $2, expires_at = $3 \
                     WHERE id_hash = $1 AND expires_at > $2",
                )
                .bind(id_hash)
                .bind(ms(last_seen))
                .bind(ms(expires_at))
                .execute(&self.$write)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn end_session(&self, id_hash: &str) -> $crate::store::StoreResult<()> {
                sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.$write)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use session_store;
