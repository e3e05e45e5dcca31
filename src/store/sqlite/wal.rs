//! Keeping the write-ahead log short while writes never pause.
//!
//! SQLite appends every committed page to the WAL and only starts the log over from its
//! beginning when a write transaction begins after a checkpoint has copied *all* of it back
//! into the database file. Our checkpoints run beside the writer (a checkpoint fsyncs the
//! database file, which must not happen inside a commit that hundreds of webhooks wait on), and
//! under steady load the writer appends while they copy: no checkpoint ever catches the head,
//! so the log never restarts. It then grows without bound (1.2 GB in 12 s of ingest, the disk
//! fills), every commit appends to fresh file blocks (the kernel allocates and zeroes them: a
//! sixth of the gateway's CPU under `wrk`), every page read searches an ever longer WAL index
//! (the p99 at 5,000/s right after 10 s at full load: 0.7 to 14 s, not milliseconds), and a crash
//! leaves all of it to be replayed.
//!
//! So there are two checkpointers: [`checkpointer`] copies the bulk in the background, and
//! once the log is long and a pass finds only a short tail left, it asks the writer, which
//! copies that tail between two batches ([`Wal::restart_if_wanted`]) — a short stall (the tail
//! and one fsync of the database file, a few to tens of milliseconds), after which the
//! writer's next transaction starts the log over from the blocks it already has.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sqlx::{SqliteConnection, SqlitePool};

/// Log length (4 KiB pages) from which the log is started over: 64 MiB (at most twice that
/// before the writer is asked to copy the tail, whatever its length). Each restart stalls the
/// writer once; at 5,000 webhooks/s (~60 MB of log a second) this is about once a second.
const RESTART_FRAMES: i64 = 16384;
/// A background pass that had at most this many frames to copy (~1 MiB) was short, so what
/// the writer appended meanwhile, and will copy itself, is short too.
const TAIL_FRAMES: i64 = 256;
/// Pause between background passes while the log is short.
const EVERY: Duration = Duration::from_millis(100);
/// Pause between passes while the log is long and the background is catching up.
const CATCHING_UP: Duration = Duration::from_millis(2);

/// Bounds of the database file's growth per extension; see [`chunk_for`].
const MIN_GROW: u64 = 1 << 20;
const MAX_GROW: u64 = 32 << 20;

/// How much the database file grows at a time when it is `len` bytes long: the largest power
/// of two up to an eighth of it, within [`MIN_GROW`]..=[`MAX_GROW`] (a fresh database stays
/// small; from 256 MiB on, 32 MiB at a time). Powers of two, so that a file cut to a multiple
/// of one chunk is a multiple of every smaller one.
fn chunk_for(len: u64) -> u64 {
    let eighth = (len / 8).max(1);
    let pow = 1u64 << (63 - eighth.leading_zeros());
    pow.clamp(MIN_GROW, MAX_GROW)
}

/// Makes checkpoints on `conn` grow the database file `chunk` bytes at a time, and cut it only
/// to a multiple of that (SQLite's `SQLITE_FCNTL_CHUNK_SIZE`, a setting of the connection's own
/// handle on the file).
///
/// A checkpoint that copies pages past the end of the file makes it grow, and its fsync then
/// waits for the file system to allocate those blocks and commit the new size to its journal:
/// under ingest, the writer's fsync of the database file after the tail copy took 10 ms
/// (median; up to 21 ms), against 0.3 ms for the log's. With chunks, SQLite allocates the
/// blocks when the file grows (it writes one byte in each), almost always in a background
/// pass, and the tail copy then rewrites blocks that exist: its fsync writes data only
/// (median 1.8 ms), and the tail copies took half as long in all.
async fn grow_in_chunks(conn: &mut SqliteConnection, chunk: u64) -> sqlx::Result<()> {
    let mut chunk = std::ffi::c_int::try_from(chunk).unwrap_or(std::ffi::c_int::MAX);
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    #[allow(unsafe_code)]
    // SAFETY: `db` is the open handle the lock guards (no other call on it meanwhile);
    // SQLITE_FCNTL_CHUNK_SIZE reads one `int` through the pointer, which lives on this stack
    // frame for the duration of the call; "main" is a NUL-terminated string.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_file_control(
            db,
            c"main".as_ptr(),
            libsqlite3_sys::SQLITE_FCNTL_CHUNK_SIZE,
            (&raw mut chunk).cast(),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "SQLITE_FCNTL_CHUNK_SIZE failed with code {rc}"
        )))
    }
}

/// What the background checkpointer and the writer share.
pub(super) struct Wal {
    /// The database file (`None` in memory): its size sets the chunk it grows by.
    db: Option<PathBuf>,
    /// Set by the background checkpointer when the writer should copy the tail.
    restart_wanted: AtomicBool,
    /// [`RESTART_FRAMES`] and [`TAIL_FRAMES`]; tests lower them.
    restart_frames: AtomicI64,
    tail_frames: AtomicI64,
}

/// The answer of `PRAGMA wal_checkpoint`: frames in the log, and how many of them are now in
/// the database file (`busy` when another checkpoint or a reader's snapshot stopped it short).
#[derive(Debug, Clone, Copy)]
struct Pass {
    busy: bool,
    log: i64,
    copied: i64,
}

impl Pass {
    fn complete(&self) -> bool {
        !self.busy && self.copied == self.log
    }
}

impl Wal {
    pub(super) fn new(db: Option<PathBuf>) -> Self {
        Self {
            db,
            restart_wanted: AtomicBool::new(false),
            restart_frames: AtomicI64::new(RESTART_FRAMES),
            tail_frames: AtomicI64::new(TAIL_FRAMES),
        }
    }

    /// One checkpoint pass on `conn`, copying what it can of the log into the database file.
    async fn pass(&self, conn: &mut SqliteConnection) -> sqlx::Result<Pass> {
        if let Some(db) = &self.db {
            let len = std::fs::metadata(db).map_or(0, |m| m.len());
            grow_in_chunks(conn, chunk_for(len)).await?;
        }
        let (busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(conn)
            .await?;
        metrics::gauge!("itsm_bridge_store_wal_frames").set(log.max(0) as f64);
        Ok(Pass {
            busy: busy != 0,
            log,
            copied,
        })
    }

    /// A pass on a connection of `pool`.
    async fn pass_on(&self, pool: &SqlitePool) -> sqlx::Result<Pass> {
        self.pass(&mut *pool.acquire().await?).await
    }

    /// Called by the writer between batches, on its own connection: when the background asked
    /// for it, copies what is left of the log, so that the next write transaction starts the
    /// log over. A pass that could not finish (the background or a reader's snapshot in the
    /// way) is tried again after the next batch.
    pub(super) async fn restart_if_wanted(&self, write: &mut SqliteConnection) {
        if !self.restart_wanted.load(Ordering::Acquire) {
            return;
        }
        let started = std::time::Instant::now();
        let done = self.pass(write).await;
        metrics::histogram!("itsm_bridge_store_wal_tail_copy_seconds")
            .record(started.elapsed().as_secs_f64());
        match done {
            Ok(p) if p.complete() => self.restart_wanted.store(false, Ordering::Release),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint by the writer failed"),
        }
    }
}

/// Copies the log back into the database file from a read connection until the store is
/// closed; see the module's documentation.
pub(super) async fn checkpointer(pool: SqlitePool, wal: Arc<Wal>) {
    // Frames already copied by the previous pass (0 after the log started over).
    let mut copied_before = 0;
    while !pool.is_closed() {
        if wal.restart_wanted.load(Ordering::Acquire) {
            // The writer has the tail; stay out of its way.
            tokio::time::sleep(EVERY).await;
            continue;
        }
        let p = match wal.pass_on(&pool).await {
            Ok(p) => p,
            Err(e) if pool.is_closed() => {
                tracing::debug!(error = %e, "store closed; checkpointer stops");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                tokio::time::sleep(EVERY).await;
                continue;
            }
        };
        if p.log < copied_before {
            copied_before = 0;
        }
        // What this pass had to copy: what was appended since the previous one.
        let tail = p.log - copied_before;
        copied_before = p.copied;
        let restart_at = wal.restart_frames.load(Ordering::Relaxed);
        if p.log >= restart_at {
            // Hand over once a pass found little to copy; if the writer appends faster than
            // passes shrink the tail, hand over anyway before the log doubles.
            if tail <= wal.tail_frames.load(Ordering::Relaxed) || p.log >= 2 * restart_at {
                wal.restart_wanted.store(true, Ordering::Release);
            }
            tokio::time::sleep(CATCHING_UP).await;
        } else {
            tokio::time::sleep(EVERY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventId, NewEvent, SourceName, TenantId, TicketKey};
    use crate::store::IngestStore;
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;

    fn event(i: usize, body: &bytes::Bytes) -> NewEvent {
        let tenant = TenantId::parse("t").unwrap();
        let source = SourceName::parse("servicenow").unwrap();
        NewEvent {
            id: EventId::new(),
            ticket: TicketKey::new(&tenant, &source, &format!("INC{}", i % 97)),
            tenant,
            source,
            dedupe_key: format!("k{i}"),
            event_type: "update".into(),
            body: body.clone(),
            headers: vec![],
            received_at: time::OffsetDateTime::now_utc(),
            ticket_number: None,
            routing: Default::default(),
            deliveries: vec![],
            disposition: Default::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_steady_ingest_the_log_starts_over_instead_of_growing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wal.db");
        let store = Arc::new(
            SqliteStore::open(&format!("sqlite://{}", db.display()), 2)
                .await
                .unwrap(),
        );
        store.migrate().await.unwrap();
        // Small limits, so that a few thousand events show it.
        store.wal.restart_frames.store(128, Ordering::Relaxed);
        store.wal.tail_frames.store(32, Ordering::Relaxed);
        // 32 clients that never pause: the group-commit writer is never idle, so a background
        // pass never finds the head where it left it (each event is a page or more).
        let body = bytes::Bytes::from(format!("{{\"d\":\"{}\"}}", "x".repeat(3000)));
        let clients: Vec<_> = (0..32)
            .map(|c| {
                let (store, body) = (store.clone(), body.clone());
                tokio::spawn(async move {
                    for i in 0..300 {
                        store.ingest(event(c * 1000 + i, &body)).await.unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        // The log file keeps its high-water mark. Without restarts it holds every frame
        // written, whatever the machine's speed: 96 MiB for these 9,600 events. With them it
        // depends on how far the background lags (the first pass, 100 ms in, may find 15
        // MiB): 22–38 MiB measured with the whole library's tests running beside it.
        let wal = std::fs::metadata(dir.path().join("wal.db-wal"))
            .unwrap()
            .len();
        assert!(
            wal < 64 << 20,
            "the WAL grew to {} MiB under steady ingest",
            wal >> 20
        );
    }

    #[test]
    fn the_file_grows_by_an_eighth_of_its_size_in_powers_of_two() {
        assert_eq!(chunk_for(0), MIN_GROW);
        assert_eq!(chunk_for(4096), MIN_GROW);
        assert_eq!(chunk_for(100 << 20), 8 << 20);
        assert_eq!(chunk_for(128 << 20), 16 << 20);
        assert_eq!(chunk_for(1 << 30), MAX_GROW);
        assert_eq!(chunk_for(u64::MAX), MAX_GROW);
    }

    #[tokio::test]
    async fn a_checkpoint_grows_the_database_file_a_chunk_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("grow.db");
        let store = SqliteStore::open(&format!("sqlite://{}", db.display()), 1)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let body = bytes::Bytes::from(vec![b'x'; 8192]);
        for i in 0..8 {
            store.ingest(event(i, &body)).await.unwrap();
        }
        // A pass as the checkpointers make them (the background one may have made some).
        store.wal.pass_on(&store.read).await.unwrap();
        // Some pages of data (~100 KiB); the file is one whole chunk (without the control,
        // just those pages).
        let len = std::fs::metadata(&db).unwrap().len();
        assert_eq!(len, MIN_GROW, "database file of {len} bytes");
    }
}
