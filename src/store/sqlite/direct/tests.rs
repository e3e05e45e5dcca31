//! `Direct`, `Statement`, `Row` and `Cache` against an in-memory database.

use sqlx::Connection;

use super::*;

async fn conn() -> SqliteConnection {
    let mut c = SqliteConnection::connect("sqlite::memory:").await.unwrap();
    sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, b BLOB)")
        .execute(&mut c)
        .await
        .unwrap();
    c
}

#[tokio::test]
async fn rows_go_in_and_come_back_and_a_conflict_changes_nothing() {
    let mut c = conn().await;
    {
        let db = Direct::lock(&mut c).await.unwrap();
        let mut put = db
            .prepare("INSERT INTO t (k, n, b) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
            .unwrap();
        let body = vec![0u8, 1, 2];
        assert_eq!(
            put.execute(&["a".into(), 1i64.into(), body.as_slice().into()])
                .unwrap(),
            1
        );
        assert_eq!(
            put.execute(&["a".into(), 2i64.into(), Value::Null])
                .unwrap(),
            0
        );
        assert_eq!(
            put.execute(&["b".into(), Value::Null, Value::Null])
                .unwrap(),
            1
        );
        let mut get = db.prepare("SELECT k, n FROM t WHERE k = ?1").unwrap();
        let read = |r: &Row<'_>| Ok((r.text(0)?, r.int(1)));
        assert_eq!(
            get.query_row(&["a".into()], read).unwrap(),
            Some((Some("a".to_owned()), Some(1)))
        );
        assert_eq!(
            get.query_row(&["b".into()], read).unwrap(),
            Some((Some("b".to_owned()), None))
        );
        assert_eq!(get.query_row(&["c".into()], read).unwrap(), None);
    }
    // The handle is back with sqlx, which sees the rows written.
    let (n, b): (i64, Vec<u8>) = sqlx::query_as("SELECT n, b FROM t WHERE k = 'a'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!((n, b), (1, vec![0, 1, 2]));
}

#[tokio::test]
async fn an_error_names_the_statement_and_leaves_the_handle_usable() {
    let mut c = conn().await;
    let db = Direct::lock(&mut c).await.unwrap();
    let e = db.prepare("INSERT INTO missing VALUES (1)").err().unwrap();
    assert!(
        matches!(&e, StoreError::Unavailable(m) if m.contains("no such table: missing")),
        "{e}"
    );
    let mut put = db.prepare("INSERT INTO t (k, n) VALUES (?1, ?2)").unwrap();
    put.execute(&["a".into(), 1i64.into()]).unwrap();
    let e = put.execute(&["a".into(), 2i64.into()]).unwrap_err();
    assert!(
        matches!(&e, StoreError::Unavailable(m) if m.contains("UNIQUE") && m.contains("INSERT INTO t")),
        "{e}"
    );
    // The statement was reset: it runs again.
    assert_eq!(put.execute(&["b".into(), 2i64.into()]).unwrap(), 1);
}

#[tokio::test]
async fn a_cached_statement_serves_the_next_lock_and_clear_lets_sqlx_close() {
    const PUT: &str = "INSERT INTO t (k, n) VALUES (?1, ?2)";
    let mut c = conn().await;
    let cache = Cache::default();
    let first = {
        let db = Direct::lock(&mut c).await.unwrap();
        let mut put = db.cached(&cache, PUT).unwrap();
        put.execute(&["a".into(), 1i64.into()]).unwrap();
        // The same SQL while the first is out: a second statement, finalized when it comes
        // back to a cache that holds one already.
        let mut again = db.cached(&cache, PUT).unwrap();
        again.execute(&["b".into(), 2i64.into()]).unwrap();
        let first = put.stmt;
        drop(put);
        drop(again);
        first
    };
    assert_eq!(cache.stmts.borrow().len(), 1);
    // sqlx uses the handle between two locks; the kept statement is not in its way.
    sqlx::query("INSERT INTO t (k, n) VALUES ('c', 3)")
        .execute(&mut c)
        .await
        .unwrap();
    {
        let db = Direct::lock(&mut c).await.unwrap();
        let mut put = db.cached(&cache, PUT).unwrap();
        assert_eq!(put.stmt, first, "compiled once, kept for the next lock");
        put.execute(&["d".into(), 4i64.into()]).unwrap();
        drop(put);
        cache.clear(&db);
    }
    assert!(cache.stmts.borrow().is_empty());
    let n: i64 = sqlx::query_scalar("SELECT SUM(n) FROM t")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 10);
    // sqlx panics closing a handle with live statements: none is left.
    c.close().await.unwrap();
}
