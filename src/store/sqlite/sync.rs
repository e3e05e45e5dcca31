//! The WAL's fsync, off the writer's path.
//!
//! With `synchronous=FULL` every group commit ends in an fsync of the log, and the writer can
//! start the next batch only when it returns: under load the disk's flush time was a third
//! of the writer's cycle, during which webhooks could only queue. Instead the writer commits
//! its batches with `synchronous=NORMAL` (the commit reaches the kernel, not the disk) and
//! hands their waiters to the thread here, which runs one `fdatasync` of the log for
//! everything committed since its last one, then answers them. Nothing is acknowledged before
//! the fsync that covers its commit has returned; meanwhile the writer is already writing the
//! next batch.
//!
//! This is SQLite's own `NORMAL` contract (a power loss keeps the database consistent and
//! loses at most the last commits) with the missing durability added before the answer: a
//! commit lost that way was never acknowledged. SQLite still syncs the log before every
//! checkpoint and the database file after it, so the log never starts over on frames that are
//! not in the database on disk.
//!
//! A failed fsync is not retried: after one, Linux may have dropped the dirty pages it could
//! not write, so a later fsync that succeeds proves nothing about them. The batches it covered
//! fail (their callers answer 503 and the ITSM sends again), the writer refuses every job
//! (ingest, outcome, claim) from then on and the store's `ping` fails (`/readyz`), until the
//! gateway is restarted and SQLite recovers from what is on disk (the policy PostgreSQL
//! follows for the same reason).

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// What to do once the commit is durable (`Ok`) or could not be made durable (`Err`, why).
pub(super) type Done = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Why every write is refused after a failed fsync.
pub(super) const FAILED: &str =
    "an fsync of the SQLite log failed; writes are refused until the gateway is restarted";

/// Handle on the fsync thread; dropping every handle stops it once its queue is answered.
pub(super) struct Syncer {
    tx: mpsc::Sender<Done>,
    failed: Arc<AtomicBool>,
}

impl Syncer {
    /// Starts the thread that fsyncs the log of the database file `db` (`<db>-wal`).
    pub(super) fn start(db: PathBuf, failed: Arc<AtomicBool>) -> io::Result<Self> {
        Self::start_with(wal_sync(db), failed)
    }

    /// Starts the thread with `sync` as the fsync (tests inject failures).
    pub(super) fn start_with(
        mut sync: impl FnMut() -> io::Result<()> + Send + 'static,
        failed: Arc<AtomicBool>,
    ) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Done>();
        let flag = failed.clone();
        std::thread::Builder::new()
            .name("sqlite-sync".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Everything committed so far is covered by the one fsync below.
                    let waiting: Vec<Done> = std::iter::once(first).chain(rx.try_iter()).collect();
                    let result = if flag.load(Ordering::Acquire) {
                        Err(FAILED.to_owned())
                    } else {
                        let started = Instant::now();
                        let r = sync();
                        metrics::histogram!("itsm_bridge_store_fsync_seconds")
                            .record(started.elapsed().as_secs_f64());
                        r.map_err(|e| {
                            flag.store(true, Ordering::Release);
                            tracing::error!(error = %e, "fsync of the SQLite log failed; refusing writes until restart");
                            format!("fsync of the SQLite log failed: {e}")
                        })
                    };
                    for done in waiting {
                        done(result.clone());
                    }
                }
            })?;
        Ok(Self { tx, failed })
    }

    /// Runs `done` after the next fsync of the log (which starts after this call).
    pub(super) fn after_sync(&self, done: Done) {
        if let Err(mpsc::SendError(done)) = self.tx.send(done) {
            done(Err("the SQLite fsync thread stopped".into()));
        }
    }

    /// Whether an fsync has failed (every write is then refused).
    pub(super) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}

/// `fdatasync` of `<db>-wal`, opened anew each time: a handle kept open would keep syncing
/// the old file if SQLite ever deleted and re-created the log (it does when the last
/// connection closes). The first call also syncs the folder, so that the log file's own
/// entry is on disk.
fn wal_sync(db: PathBuf) -> impl FnMut() -> io::Result<()> + Send + 'static {
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let mut dir_synced = false;
    move || {
        File::open(&wal)?.sync_data()?;
        if !dir_synced {
            File::open(&dir)?.sync_all()?;
            dir_synced = true;
        }
        Ok(())
    }
}
