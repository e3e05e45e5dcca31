//! Statements the writer runs itself, on its own thread, through SQLite's C API.
//!
//! sqlx runs each statement of a connection on that connection's own thread: the caller sends
//! it over, the thread prepares (or finds in its cache), binds a copy of every value, steps,
//! and sends back each row and the final answer through a channel, waking the caller each
//! time. For the writer's ingest — an event, its deliveries and its ticket's alias per webhook,
//! hundreds per batch — that meant either a statement (and a hand-off) per row, or one
//! multi-row statement of hundreds of `VALUES` rows that SQLite must parse and compile anew for
//! every batch size. Here the writer locks the connection's handle once for the batch
//! ([`sqlx::SqliteConnection::lock_handle`]; sqlx's thread is idle meanwhile), prepares each
//! single-row statement once, and steps it once per row: no hand-off, no copy of the values,
//! and a short statement to compile per batch instead of one that grows with it. The writer
//! also keeps its compiled statements from one batch to the next ([`Cache`]) for as long as it
//! holds the connection: compiling them was 4–5% of the gateway's CPU at full intake.
//!
//! This is the one place besides `wal.rs`'s file control where the store calls SQLite's C API;
//! the unsafe calls stay behind the four types below, whose borrows keep every use of a
//! statement within the lock that makes the handle ours: a [`Statement`] cannot outlive its
//! [`Direct`], and a [`Direct`] cannot outlive the connection it locked. A [`Cache`] keeps
//! statements between two locks but hands them out only to a [`Direct`] of their own handle,
//! and must be emptied under a lock ([`Cache::clear`]) before the connection goes back to the
//! pool: sqlx cannot close a connection that still has statements.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;
use sqlx::sqlite::LockedSqliteHandle;

use crate::store::{StoreError, StoreResult};

/// A value bound to a statement's parameter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(s)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Value::Null, Value::Text)
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Int(i64::from(b))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(b: &'a [u8]) -> Self {
        Value::Blob(b)
    }
}

/// The write connection's handle, taken from sqlx's thread for as long as this lives.
pub(super) struct Direct<'c> {
    // Holds the lock; `db` is only used while it is held.
    _lock: LockedSqliteHandle<'c>,
    db: NonNull<ffi::sqlite3>,
}

impl<'c> Direct<'c> {
    /// Locks `conn`'s handle (one hand-off to its thread, which then waits for it back).
    pub(super) async fn lock(conn: &'c mut SqliteConnection) -> StoreResult<Self> {
        let mut lock = conn.lock_handle().await?;
        let db = lock.as_raw_handle();
        Ok(Self { _lock: lock, db })
    }

    /// Compiles `sql` (one statement, `?N` parameters).
    pub(super) fn prepare<'d>(&'d self, sql: &'d str) -> StoreResult<Statement<'d>> {
        let len = c_int::try_from(sql.len())
            .map_err(|_| StoreError::Rejected("a statement over 2 GiB".into()))?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: the handle is open and ours while the lock is held (`self` holds it); SQLite
        // reads `len` bytes of `sql`; `stmt` is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                self.db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                0,
                &raw mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(self.db, rc, sql));
        }
        let stmt = NonNull::new(stmt)
            .ok_or_else(|| StoreError::Corrupt(format!("no statement in {sql:?}")))?;
        Ok(Statement {
            db: self.db,
            stmt,
            sql,
            home: None,
            _direct: PhantomData,
        })
    }

    /// `sql` compiled, from `cache` when an earlier batch compiled it on this handle (and put
    /// back there when dropped, reset and cleared, instead of finalized).
    pub(super) fn cached<'d>(
        &'d self,
        cache: &'d Cache,
        sql: &'static str,
    ) -> StoreResult<Statement<'d>> {
        match cache.take(self.db, sql)? {
            Some(stmt) => Ok(Statement {
                db: self.db,
                stmt,
                sql,
                home: Some((cache, sql)),
                _direct: PhantomData,
            }),
            None => {
                let mut s = self.prepare(sql)?;
                s.home = Some((cache, sql));
                Ok(s)
            }
        }
    }
}

/// Compiled statements kept between two locks of one connection's handle, by their SQL.
#[derive(Default)]
pub(super) struct Cache {
    /// The handle they were compiled on, once there is one.
    db: RefCell<Option<NonNull<ffi::sqlite3>>>,
    stmts: RefCell<HashMap<&'static str, NonNull<ffi::sqlite3_stmt>>>,
}

impl Cache {
    /// Takes `sql`'s statement out, if there is one for the handle `db`.
    fn take(
        &self,
        db: NonNull<ffi::sqlite3>,
        sql: &'static str,
    ) -> StoreResult<Option<NonNull<ffi::sqlite3_stmt>>> {
        let mut home = self.db.borrow_mut();
        match *home {
            Some(h) if h != db => Err(StoreError::Unavailable(
                "the writer's statements belong to another connection".into(),
            )),
            Some(_) => Ok(self.stmts.borrow_mut().remove(sql)),
            None => {
                *home = Some(db);
                Ok(None)
            }
        }
    }

    /// Keeps `stmt` (reset and cleared) for the next batch; finalizes it when `sql` already
    /// has one (it was compiled twice while the first was out).
    fn put_back(&self, sql: &'static str, stmt: NonNull<ffi::sqlite3_stmt>) {
        match self.stmts.borrow_mut().entry(sql) {
            Entry::Vacant(v) => {
                v.insert(stmt);
            }
            // SAFETY: called from the drop of the `Statement` that held `stmt`, under the lock
            // of the `Direct` it borrows; nothing else uses `stmt`.
            Entry::Occupied(_) => unsafe {
                ffi::sqlite3_finalize(stmt.as_ptr());
            },
        }
    }

    /// Finalizes every statement, under `db`'s lock (the lock of their handle); the cache may
    /// then serve another handle.
    pub(super) fn clear(&self, db: &Direct<'_>) {
        let mut home = self.db.borrow_mut();
        if home.is_none_or(|h| h == db.db) {
            self.finalize_all();
            *home = None;
        }
    }

    /// Drops every statement without finalizing it: for a handle that could not be locked,
    /// whose connection's thread is gone (and its statements with it).
    pub(super) fn forget(&self) {
        self.stmts.borrow_mut().clear();
        *self.db.borrow_mut() = None;
    }

    fn finalize_all(&self) {
        for (_, stmt) in self.stmts.borrow_mut().drain() {
            // SAFETY: cached statements are used by no `Statement`; the caller holds the
            // handle's lock, or (dropping the cache) owns the idle connection.
            unsafe {
                ffi::sqlite3_finalize(stmt.as_ptr());
            }
        }
    }
}

impl Drop for Cache {
    /// The writer empties its cache under the lock before it lets the connection go; this is
    /// for a writer that stops half-way (its thread unwinding), when no one else holds the
    /// connection, so that sqlx can still close it.
    fn drop(&mut self) {
        self.finalize_all();
    }
}

/// The error SQLite reports for the last failed call on the handle `db`, as the store's.
fn error(db: NonNull<ffi::sqlite3>, rc: c_int, sql: &str) -> StoreError {
    // SAFETY: the handle is open and locked by the caller's `Direct`; `sqlite3_errmsg` returns
    // a NUL-terminated string that stays valid until the next call on the handle, copied at
    // once.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) }
        .to_string_lossy()
        .into_owned();
    let statement = sql.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
    let e = format!("{msg} (code {rc}, in {statement} …)");
    // The primary code is the low byte of an extended one: SQLITE_TOOBIG and SQLITE_MISMATCH
    // refuse this data (as `text::refuses_data` says of sqlx's errors).
    match rc & 0xff {
        ffi::SQLITE_TOOBIG | ffi::SQLITE_MISMATCH => StoreError::Rejected(e),
        _ => StoreError::Unavailable(e),
    }
}

/// A compiled statement of a [`Direct`] handle, finalized when dropped.
pub(super) struct Statement<'d> {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
    sql: &'d str,
    /// The cache it goes back to when dropped; `None`: finalized.
    home: Option<(&'d Cache, &'static str)>,
    /// Borrows the `Direct` (and so its lock) for as long as the statement lives.
    _direct: PhantomData<&'d ()>,
}

impl Statement<'_> {
    /// Runs the statement with `values` bound to `?1`, `?2`…; how many rows it changed (for an
    /// `INSERT … ON CONFLICT DO NOTHING`, 0 when the row was already there).
    pub(super) fn execute(&mut self, values: &[Value<'_>]) -> StoreResult<i64> {
        self.for_each(values, |_| Ok(()))?;
        // SAFETY: the handle is open; the statement just completed on it.
        Ok(unsafe { ffi::sqlite3_changes64(self.db.as_ptr()) })
    }

    /// Runs the statement with `values` bound and reads its first row, if it has one.
    pub(super) fn query_row<T>(
        &mut self,
        values: &[Value<'_>],
        read: impl FnOnce(&Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let (mut read, mut out) = (Some(read), None);
        self.for_each(values, |row| {
            if let Some(read) = read.take() {
                out = Some(read(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs the statement with `values` bound, handing each row to `each`; then resets the
    /// statement and clears its bindings — so no pointer to `values` outlives this call.
    pub(super) fn for_each(
        &mut self,
        values: &[Value<'_>],
        mut each: impl FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let result = self.bind(values).and_then(|()| {
            loop {
                // SAFETY: the statement is live (finalized only on drop) and its parameters
                // point into `values`, borrowed for this whole call.
                match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
                    ffi::SQLITE_ROW => each(&Row {
                        stmt: self.stmt,
                        _row: PhantomData,
                    })?,
                    ffi::SQLITE_DONE => return Ok(()),
                    rc => return Err(error(self.db, rc, self.sql)),
                }
            }
        });
        // SAFETY: as above. After these two calls the statement holds no value of `values`
        // (bound with SQLITE_STATIC, i.e. not copied). Their codes repeat the step's error,
        // already taken.
        unsafe {
            ffi::sqlite3_reset(self.stmt.as_ptr());
            ffi::sqlite3_clear_bindings(self.stmt.as_ptr());
        }
        result
    }

    fn bind(&mut self, values: &[Value<'_>]) -> StoreResult<()> {
        for (i, v) in values.iter().enumerate() {
            let at = c_int::try_from(i + 1)
                .map_err(|_| StoreError::Rejected("too many parameters".into()))?;
            let p = self.stmt.as_ptr();
            // SAFETY: the statement is live; texts and blobs are passed with their length and
            // SQLITE_STATIC (not copied): `for_each` clears them before `values`' borrow ends.
            let rc = unsafe {
                match *v {
                    Value::Null => ffi::sqlite3_bind_null(p, at),
                    Value::Int(n) => ffi::sqlite3_bind_int64(p, at, n),
                    Value::Text(s) => ffi::sqlite3_bind_text64(
                        p,
                        at,
                        s.as_ptr().cast(),
                        s.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    Value::Blob(b) => ffi::sqlite3_bind_blob64(
                        p,
                        at,
                        b.as_ptr().cast(),
                        b.len() as u64,
                        ffi::SQLITE_STATIC(),
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(self.db, rc, self.sql));
            }
        }
        Ok(())
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        match self.home {
            // Reset and cleared by every run (`for_each`): ready for the next batch.
            Some((cache, sql)) => cache.put_back(sql, self.stmt),
            // SAFETY: the statement is live and dropped once; the handle is still locked (the
            // statement borrows the `Direct` that holds the lock).
            None => unsafe {
                ffi::sqlite3_finalize(self.stmt.as_ptr());
            },
        }
    }
}

/// The row a statement stands on, readable while the step that gave it lasts.
pub(super) struct Row<'s> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    _row: PhantomData<&'s ()>,
}

impl Row<'_> {
    /// Column `i` as an integer; `None` when NULL.
    pub(super) fn int(&self, i: c_int) -> Option<i64> {
        // SAFETY: the statement stands on a row (a `Row` exists only during its step).
        unsafe {
            if ffi::sqlite3_column_type(self.stmt.as_ptr(), i) == ffi::SQLITE_NULL {
                None
            } else {
                Some(ffi::sqlite3_column_int64(self.stmt.as_ptr(), i))
            }
        }
    }

    /// Column `i` as text; `None` when NULL.
    pub(super) fn text(&self, i: c_int) -> StoreResult<Option<String>> {
        // SAFETY: as above; `sqlite3_column_text` then `sqlite3_column_bytes` (the order SQLite
        // documents) give a buffer of that many bytes, valid until the next step, copied at once.
        let bytes = unsafe {
            let p = ffi::sqlite3_column_text(self.stmt.as_ptr(), i);
            if p.is_null() {
                return Ok(None);
            }
            let n = ffi::sqlite3_column_bytes(self.stmt.as_ptr(), i);
            std::slice::from_raw_parts(p, usize::try_from(n).unwrap_or(0))
        };
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("column {i} is not UTF-8: {e}")))
    }
}

#[cfg(test)]
mod tests;
