//! Durable queue. Owns every file under the spool directory: one SQLite database in WAL mode
//! with `synchronous=FULL`, written by a single thread that group-commits. [`Spool::put`] returns
//! only after the message and its envelope are committed to disk, which is when the client may
//! get its `250`. Never talks to the network and never decides routing or retry policy.

mod limits;
mod reads;
mod record;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use limits::{KEEP_MS as LIMITS_KEPT_MS, LimitOp};
pub use record::{QueueEntry, RcptState, StoredMessage};
pub use store::LimitState;

use crate::envelope::Envelope;

/// A message accepted by a session, not yet durable.
#[derive(Debug)]
pub struct NewMessage {
    pub id: String,
    pub envelope: Envelope,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool database {path}: {source}")]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("spool directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool {path} is in use by another smarthost process")]
    Locked { path: PathBuf },
    #[error("the spool writer has stopped")]
    WriterGone,
    #[error("commit failed: {0}")]
    Commit(String),
}

/// The outcome of a delivery attempt, to be written back.
#[derive(Debug, Clone)]
pub struct Progress {
    pub id: String,
    pub rcpts: Vec<RcptState>,
    pub attempts: u32,
    /// Unix milliseconds of the next attempt; ignored when nothing is pending.
    pub next_attempt: i64,
    /// A delay notice has been queued for this message.
    pub warned: bool,
    /// `next_attempt` is when this upstream's limits let the message go, not a retry time;
    /// `smarthost limits reset` releases it at once.
    pub limited_by: Option<String>,
}

pub(crate) enum WriteOp {
    Put(NewMessage, oneshot::Sender<Result<(), SpoolError>>),
    Progress(Progress, oneshot::Sender<Result<(), SpoolError>>),
    Limit(LimitOp, oneshot::Sender<Result<(), SpoolError>>),
}

/// Handle to the spool; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    writer: mpsc::UnboundedSender<WriteOp>,
    reader: Arc<std::sync::Mutex<rusqlite::Connection>>,
    dir: PathBuf,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`. Also returns the stream of messages as they become
    /// durable, for the scheduler. A database that cannot be read is moved aside into
    /// `dir/corrupt/` and reported, and a fresh one is started.
    pub fn open(dir: &Path) -> Result<(Spool, mpsc::UnboundedReceiver<StoredMessage>), SpoolError> {
        let opened = store::open(dir)?;
        let (writer, rx) = mpsc::unbounded_channel();
        let (new_tx, new_rx) = mpsc::unbounded_channel();
        let write_conn = opened.writer;
        let path = opened.path.clone();
        std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || store::writer_loop(opened.lock, write_conn, path, rx, new_tx))
            .map_err(|source| SpoolError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        let spool = Spool {
            writer,
            reader: Arc::new(std::sync::Mutex::new(opened.reader)),
            dir: dir.to_path_buf(),
        };
        Ok((spool, new_rx))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the message durable. Returns only once it is committed to disk.
    pub async fn put(&self, msg: NewMessage) -> Result<(), SpoolError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(WriteOp::Put(msg, tx))
            .map_err(|_| SpoolError::WriterGone)?;
        rx.await.map_err(|_| SpoolError::WriterGone)?
    }

    /// Records a delivery attempt; a message with no pending recipient and no failed one is
    /// removed from the queue.
    pub async fn record(&self, progress: Progress) -> Result<(), SpoolError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(WriteOp::Progress(progress, tx))
            .map_err(|_| SpoolError::WriterGone)?;
        rx.await.map_err(|_| SpoolError::WriterGone)?
    }

    /// Records quota usage or a provider's pause; returns once it is durable.
    pub async fn limit(&self, op: LimitOp) -> Result<(), SpoolError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(WriteOp::Limit(op, tx))
            .map_err(|_| SpoolError::WriterGone)?;
        rx.await.map_err(|_| SpoolError::WriterGone)?
    }

    /// One upstream's usage newer than `since` and its pause in force at `now`.
    pub async fn limit_state(
        &self,
        upstream: &str,
        since: i64,
        now: i64,
    ) -> Result<LimitState, SpoolError> {
        let upstream = upstream.to_string();
        self.read(move |c, dir| store::limit_state(c, dir, &upstream, since, now))
            .await
    }

    /// Messages in the queue and the creation time (unix seconds) of the oldest.
    pub async fn queue_stats(&self) -> Result<(usize, Option<i64>), SpoolError> {
        self.read(store::queue_stats).await
    }

    /// Changes with every `smarthost limits reset`.
    pub async fn limit_reset_mark(&self) -> Result<i64, SpoolError> {
        self.read(store::reset_mark).await
    }

    /// Drops usage older than any window and ended pauses (at start).
    pub async fn prune_limits(&self) -> Result<(), SpoolError> {
        self.read(store::prune_limits).await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection, &Path) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, SpoolError> {
        let reader = self.reader.clone();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn, &dir)
        })
        .await
        .map_err(|e| SpoolError::Commit(e.to_string()))?
    }

    /// Messages whose next attempt is due at `now_ms`, oldest first; with `include_unattempted`
    /// also every message never tried yet (after a restart, whatever the previous process left).
    pub async fn due(
        &self,
        now_ms: i64,
        limit: usize,
        include_unattempted: bool,
    ) -> Result<Vec<StoredMessage>, SpoolError> {
        let reader = self.reader.clone();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            reads::due(&conn, &dir, now_ms, limit, include_unattempted)
        })
        .await
        .map_err(|e| SpoolError::Commit(e.to_string()))?
    }

    /// Every message in the queue, for operators and tests.
    pub async fn list(&self) -> Result<Vec<QueueEntry>, SpoolError> {
        let reader = self.reader.clone();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            reads::list(&conn, &dir)
        })
        .await
        .map_err(|e| SpoolError::Commit(e.to_string()))?
    }
}

/// A queue id: sortable by arrival (microseconds) with a random tail, 16 upper-case hex digits.
pub fn new_queue_id() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    format!(
        "{:011X}{:05X}",
        micros & 0xFFF_FFFF_FFFF,
        rand::random::<u32>() & 0xFFFFF
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The operator's handle on a spool (`smarthost queue ...`): works beside a running relay, which
/// picks up every change at its next scan (within a second).
pub struct Admin {
    conn: rusqlite::Connection,
    dir: PathBuf,
}

impl Admin {
    pub fn open(dir: &Path) -> Result<Admin, SpoolError> {
        Ok(Admin {
            conn: store::open_admin(dir)?,
            dir: dir.to_path_buf(),
        })
    }

    /// Whether a relay is running on this spool now.
    pub fn relay_running(&self) -> bool {
        store::relay_running(&self.dir)
    }

    pub fn list(&self) -> Result<Vec<QueueEntry>, SpoolError> {
        reads::list(&self.conn, &self.dir)
    }

    pub fn load(&self, id: &str) -> Result<Option<StoredMessage>, SpoolError> {
        reads::load(&self.conn, &self.dir, id)
    }

    pub fn set_held(&self, id: &str, held: bool) -> Result<bool, SpoolError> {
        Ok(store::set_held(&self.conn, &self.dir, id, held)? > 0)
    }

    /// `None`: every message not held.
    pub fn retry_now(&self, id: Option<&str>) -> Result<usize, SpoolError> {
        store::retry_now(&self.conn, &self.dir, id)
    }

    pub fn delete(&mut self, id: &str, bounce: Option<&NewMessage>) -> Result<bool, SpoolError> {
        store::delete(&mut self.conn, &self.dir, id, bounce)
    }

    pub fn limit_state(
        &self,
        upstream: &str,
        since: i64,
        now: i64,
    ) -> Result<LimitState, SpoolError> {
        store::limit_state(&self.conn, &self.dir, upstream, since, now)
    }

    /// Forgets usage and pauses (of one upstream, or all) and releases the mail they held; a
    /// running relay reloads its counters within a second. Returns the messages released.
    pub fn reset_limits(&mut self, upstream: Option<&str>) -> Result<usize, SpoolError> {
        store::reset_limits(&mut self.conn, &self.dir, upstream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_size(dir: &Path) -> i64 {
        let c = rusqlite::Connection::open(dir.join(store::DB_FILE)).unwrap();
        c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap()
    }

    #[tokio::test]
    async fn a_new_spool_has_16_kib_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        drop(Spool::open(dir.path()).unwrap());
        assert_eq!(page_size(dir.path()), store::PAGE_SIZE);

        // A spool made with SQLite's 4 KiB default opens as it is, with its mail.
        let old = tempfile::tempdir().unwrap();
        let c = rusqlite::Connection::open(old.path().join(store::DB_FILE)).unwrap();
        c.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
            .unwrap();
        drop(c);
        let (spool, _fresh) = Spool::open(old.path()).unwrap();
        spool
            .put(NewMessage {
                id: new_queue_id(),
                envelope: Envelope {
                    mail_from: "a@x.test".into(),
                    body: Default::default(),
                    smtputf8: false,
                    ret: None,
                    envid: None,
                    recipients: vec![crate::envelope::Recipient {
                        address: "b@y.test".into(),
                        orcpt: None,
                        notify: None,
                    }],
                    upstream: None,
                    client: None,
                },
                body: b"Subject: s\r\n\r\nbody\r\n".to_vec(),
            })
            .await
            .unwrap();
        assert_eq!(spool.list().await.unwrap().len(), 1);
        drop(spool);
        assert_eq!(page_size(old.path()), 4096);
    }
}
