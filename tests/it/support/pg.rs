//! A fresh schema of the `TEST_DATABASE_URL` database for one test, so PostgreSQL tests run
//! in parallel; without the variable a visible `SKIPPED` line and `None`.

/// One test's schema: `url` points a store at it (through `search_path`).
pub struct Schema {
    pub url: String,
    admin: sqlx::PgPool,
    name: String,
}

impl Schema {
    /// Creates a schema named `{prefix}_…`; `None` (and a SKIPPED line naming `test`) without
    /// `TEST_DATABASE_URL`.
    pub async fn create(prefix: &str, test: &str) -> Option<Schema> {
        let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
            // Straight to the process's stderr: libtest captures `eprintln!` of passing tests,
            // and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: TEST_DATABASE_URL not set ({test})"
            );
            return None;
        };
        let admin = sqlx::PgPool::connect(&base)
            .await
            .expect("connect TEST_DATABASE_URL");
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Some(Schema { url, admin, name })
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        let sql = format!("DROP SCHEMA {} CASCADE", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.admin)
            .await
            .expect("drop schema");
    }
}
