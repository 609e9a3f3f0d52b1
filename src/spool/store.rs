//! The SQLite side of the spool: schema, the group-committing writer loop, reads, and recovery
//! of unreadable databases and rows. Only this file and `limits.rs` issue SQL.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, params};
use tokio::sync::mpsc;

use super::limits;
use super::record::{EnvelopeRecord, FORMAT_VERSION, RcptState, StoredMessage};
use super::{NewMessage, SpoolError, WriteOp, now_ms};

pub(super) const DB_FILE: &str = "spool.db";
/// Upper bound on operations folded into one commit.
const MAX_GROUP: usize = 512;
const FRESH_LEASE_MS: i64 = 60_000;
/// The page size of a new spool database.
pub(super) const PAGE_SIZE: i64 = 16 * 1024;

pub(super) struct Opened {
    /// Held (with the lock on it) by the writer thread: the spool is free again once the last
    /// handle to it is gone and the writer has stopped.
    pub lock: File,
    pub writer: Connection,
    pub reader: Connection,
    pub path: PathBuf,
}

pub(super) fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> SpoolError + '_ {
    move |source| SpoolError::Db {
        path: path.to_path_buf(),
        source,
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn open(dir: &Path) -> Result<Opened, SpoolError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    // The queue holds every message: only the relay's own user may enter the directory.
    crate::fsutil::private_dir(dir).map_err(io_err(dir))?;
    let lock = lock_dir(dir)?;
    let path = dir.join(DB_FILE);
    let writer = match open_db(&path) {
        Ok(c) => c,
        Err(e) => {
            let moved = move_aside(dir, &path)?;
            tracing::error!(
                "spool database {} is unreadable ({e}); moved to {} and started a new one",
                path.display(),
                moved.display()
            );
            open_db(&path)?
        }
    };
    sync_dir(dir)?;
    let reader = Connection::open(&path).map_err(db_err(&path))?;
    reader
        .busy_timeout(std::time::Duration::from_secs(30))
        .map_err(db_err(&path))?;
    quarantine_bad_rows(&writer, &path)?;
    Ok(Opened {
        lock,
        writer,
        reader,
        path,
    })
}

/// One relay per spool: a second process would deliver every message twice.
fn lock_dir(dir: &Path) -> Result<File, SpoolError> {
    let lock_path = dir.join("lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(SpoolError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(SpoolError::Io {
            path: lock_path,
            source: e,
        }),
    }
}

fn open_db(path: &Path) -> Result<Connection, SpoolError> {
    let e = db_err(path);
    let c = Connection::open(path).map_err(&e)?;
    c.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(&e)?;
    // 16 KiB pages (SQLite's default is 4 KiB): a typical message (up to about 16 KB) is then
    // one page in its row, not a row and a chain of overflow pages, so its commit writes one
    // WAL frame instead of four (two pwrite calls each). Takes effect only in a new database;
    // an existing spool keeps its page size.
    c.pragma_update(None, "page_size", PAGE_SIZE).map_err(&e)?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(&e)?;
    // FULL: a WAL commit is fsynced before it is reported; NORMAL could lose acknowledged mail.
    c.pragma_update(None, "synchronous", "FULL").map_err(&e)?;
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS message (
            id TEXT PRIMARY KEY,
            created INTEGER NOT NULL,
            envelope TEXT NOT NULL,
            rcpts TEXT NOT NULL,
            body BLOB NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt INTEGER NOT NULL,
            held INTEGER NOT NULL DEFAULT 0,
            warned INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS message_due ON message(next_attempt);
        CREATE TABLE IF NOT EXISTS corrupt (
            id TEXT,
            moved INTEGER NOT NULL,
            reason TEXT NOT NULL,
            envelope TEXT,
            rcpts TEXT,
            body BLOB
        );",
    )
    .map_err(&e)?;
    c.execute_batch(limits::SCHEMA).map_err(&e)?;
    // Spools made before quotas existed lack the column; adding it keeps their mail.
    let has_limited_by: bool = c
        .query_row(
            "SELECT count(*) FROM pragma_table_info('message') WHERE name = 'limited_by'",
            [],
            |r| r.get(0),
        )
        .map_err(&e)?;
    if !has_limited_by {
        c.execute_batch("ALTER TABLE message ADD COLUMN limited_by TEXT")
            .map_err(&e)?;
    }
    Ok(c)
}

fn move_aside(dir: &Path, path: &Path) -> Result<PathBuf, SpoolError> {
    let corrupt = dir.join("corrupt");
    std::fs::create_dir_all(&corrupt).map_err(io_err(&corrupt))?;
    let stamp = chrono::Local::now().format("%Y%m%dT%H%M%S");
    let target = corrupt.join(format!("spool-{stamp}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", target.display()));
            std::fs::rename(&from, &to).map_err(io_err(&from))?;
        }
    }
    sync_dir(dir)?;
    Ok(target)
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    crate::fsutil::sync_dir(dir).map_err(io_err(dir))
}

/// Rows whose envelope cannot be decoded are moved to the `corrupt` table and reported, so one
/// bad row never stops the relay or hides the rest of the queue.
fn quarantine_bad_rows(c: &Connection, path: &Path) -> Result<(), SpoolError> {
    let e = db_err(path);
    let mut bad = Vec::new();
    {
        let mut stmt = c
            .prepare("SELECT id, envelope, rcpts FROM message")
            .map_err(&e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(&e)?;
        for row in rows {
            let (id, env, rcpts) = row.map_err(&e)?;
            if let Err(reason) = decode(&env, &rcpts) {
                bad.push((id, reason));
            }
        }
    }
    for (id, reason) in bad {
        tracing::error!(queue_id = %id, "unreadable spool entry moved to the corrupt table: {reason}");
        c.execute(
            "INSERT INTO corrupt (id, moved, reason, envelope, rcpts, body)
             SELECT id, ?2, ?3, envelope, rcpts, body FROM message WHERE id = ?1",
            params![id, now_ms(), reason],
        )
        .map_err(&e)?;
        c.execute("DELETE FROM message WHERE id = ?1", params![id])
            .map_err(&e)?;
    }
    Ok(())
}

pub(super) fn decode(
    envelope: &str,
    rcpts: &str,
) -> Result<(EnvelopeRecord, Vec<RcptState>), String> {
    let env: EnvelopeRecord =
        serde_json::from_str(envelope).map_err(|e| format!("envelope: {e}"))?;
    if env.v > FORMAT_VERSION {
        return Err(format!(
            "envelope format {} is newer than this smarthost ({FORMAT_VERSION})",
            env.v
        ));
    }
    let states: Vec<RcptState> =
        serde_json::from_str(rcpts).map_err(|e| format!("recipients: {e}"))?;
    if states.len() != env.envelope.recipients.len() {
        return Err("recipient states do not match the envelope".into());
    }
    Ok((env, states))
}

/// `queued` for a client's message, written here, once it is durable and before delivery can
/// see it: a message's `delivered` can never come before its `queued` in the mail log. The
/// relay's own notices have no client and are logged as `notice` by delivery.
fn log_queued(msg: &super::NewMessage) {
    if let Some(client) = &msg.envelope.client {
        crate::maillog!(crate::maillog::QUEUED, %client, queue_id = %msg.id,
            from = %msg.envelope.mail_from, rcpts = msg.envelope.recipients.len(),
            size = msg.body.len());
    }
}

pub(super) fn writer_loop(
    _lock: File,
    mut conn: Connection,
    path: PathBuf,
    mut rx: mpsc::UnboundedReceiver<WriteOp>,
    new_tx: mpsc::UnboundedSender<StoredMessage>,
) {
    let mut batch = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let result = commit(&mut conn, &batch);
        for op in batch.drain(..) {
            match op {
                WriteOp::Put(msg, reply) => {
                    if result.is_ok() {
                        log_queued(&msg);
                        let _ = new_tx.send(stored(msg));
                    }
                    let _ = reply.send(result.clone().map_err(SpoolError::Commit));
                }
                WriteOp::Progress(_, reply) | WriteOp::Limit(_, reply) => {
                    let _ = reply.send(result.clone().map_err(SpoolError::Commit));
                }
            }
        }
        if let Err(e) = &result {
            tracing::error!("spool commit to {} failed: {e}", path.display());
        }
    }
}

fn stored(msg: NewMessage) -> StoredMessage {
    let rcpts = vec![RcptState::Pending { last_reply: None }; msg.envelope.recipients.len()];
    StoredMessage {
        id: msg.id,
        created: now_ms() / 1000,
        envelope: msg.envelope,
        rcpts,
        body: Arc::new(msg.body),
        attempts: 0,
        warned: false,
    }
}

/// One transaction for the whole group: either every operation is durable or none is.
fn commit(conn: &mut Connection, batch: &[WriteOp]) -> Result<(), String> {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    for op in batch {
        match op {
            // The session hands the message straight to delivery; the lease keeps the periodic
            // scan from loading it again while that attempt runs.
            WriteOp::Put(msg, _) => insert(&tx, msg, now_ms() + FRESH_LEASE_MS)?,
            WriteOp::Progress(p, _) => {
                // Failed recipients have had their bounce queued (or needed none) by now.
                let done = !p.rcpts.iter().any(RcptState::is_pending);
                if done {
                    tx.prepare_cached("DELETE FROM message WHERE id = ?1")
                        .and_then(|mut st| st.execute(params![p.id]))
                        .map_err(|e| e.to_string())?;
                } else {
                    let rcpts = serde_json::to_string(&p.rcpts).map_err(|e| e.to_string())?;
                    tx.prepare_cached(
                        "UPDATE message SET rcpts = ?2, attempts = ?3, next_attempt = ?4, warned = ?5, limited_by = ?6 WHERE id = ?1",
                    )
                    .and_then(|mut st| {
                        st.execute(params![p.id, rcpts, p.attempts, p.next_attempt, p.warned, p.limited_by])
                    })
                    .map_err(|e| e.to_string())?;
                }
            }
            WriteOp::Limit(op, _) => limits::apply(&tx, op).map_err(|e| e.to_string())?,
        }
    }
    tx.commit().map_err(|e| e.to_string())
}

/// Inserts a new message whose first attempt is due at `next_attempt` (unix ms).
pub(super) fn insert(c: &Connection, msg: &NewMessage, next_attempt: i64) -> Result<(), String> {
    let env = EnvelopeRecord {
        v: FORMAT_VERSION,
        envelope: msg.envelope.clone(),
    };
    let rcpts = vec![RcptState::Pending { last_reply: None }; msg.envelope.recipients.len()];
    let env = serde_json::to_string(&env).map_err(|e| e.to_string())?;
    let rcpts = serde_json::to_string(&rcpts).map_err(|e| e.to_string())?;
    // Cached: parsing the statement anew for every message cost more than binding it.
    c.prepare_cached(
        "INSERT INTO message (id, created, envelope, rcpts, body, attempts, next_attempt)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
    )
    .and_then(|mut st| {
        st.execute(params![
            msg.id,
            now_ms() / 1000,
            env,
            rcpts,
            msg.body,
            next_attempt,
        ])
    })
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// The columns [`MessageRow::read`] expects, in order.
/// Opens the spool database of a relay that may be running (WAL allows it), without the lock.
pub(super) fn open_admin(dir: &Path) -> Result<Connection, SpoolError> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Err(SpoolError::Io {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no spool database here"),
        });
    }
    let c = open_db(&path)?;
    Ok(c)
}

/// Whether a relay holds the spool lock right now.
pub(super) fn relay_running(dir: &Path) -> bool {
    let Ok(f) = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
    else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Sets `held`; returns how many messages matched.
pub(super) fn set_held(
    c: &Connection,
    dir: &Path,
    id: &str,
    held: bool,
) -> Result<usize, SpoolError> {
    c.execute(
        "UPDATE message SET held = ?2 WHERE id = ?1",
        params![id, held],
    )
    .map_err(db_err(&dir.join(DB_FILE)))
}

/// Makes the message (or every message) due now; returns how many matched.
pub(super) fn retry_now(c: &Connection, dir: &Path, id: Option<&str>) -> Result<usize, SpoolError> {
    let path = dir.join(DB_FILE);
    let e = db_err(&path);
    match id {
        Some(id) => c.execute(
            "UPDATE message SET next_attempt = 0 WHERE id = ?1",
            params![id],
        ),
        None => c.execute("UPDATE message SET next_attempt = 0 WHERE held = 0", []),
    }
    .map_err(e)
}

/// Removes a message, queueing `bounce` in the same transaction.
pub(super) fn delete(
    c: &mut Connection,
    dir: &Path,
    id: &str,
    bounce: Option<&NewMessage>,
) -> Result<bool, SpoolError> {
    let tx = c.transaction().map_err(db_err(&dir.join(DB_FILE)))?;
    if let Some(b) = bounce {
        insert(&tx, b, 0).map_err(SpoolError::Commit)?;
    }
    let n = tx
        .execute("DELETE FROM message WHERE id = ?1", params![id])
        .map_err(db_err(&dir.join(DB_FILE)))?;
    tx.commit().map_err(db_err(&dir.join(DB_FILE)))?;
    Ok(n > 0)
}

// === Limits (quota usage, pauses, resets) ===

/// Usage newer than `since` and the pause in force at `now` for one upstream.
pub(super) fn limit_state(
    c: &Connection,
    dir: &Path,
    upstream: &str,
    since: i64,
    now: i64,
) -> Result<LimitState, SpoolError> {
    let e = db_err_owned(dir);
    Ok(LimitState {
        usage: limits::usage(c, upstream, since).map_err(&e)?,
        pause: limits::pause(c, upstream, now).map_err(&e)?,
        waiting: limits::waiting(c, upstream).map_err(&e)?,
    })
}

pub(super) fn reset_mark(c: &Connection, dir: &Path) -> Result<i64, SpoolError> {
    limits::reset_mark(c).map_err(db_err_owned(dir))
}

pub(super) fn reset_limits(
    c: &mut Connection,
    dir: &Path,
    upstream: Option<&str>,
) -> Result<usize, SpoolError> {
    limits::reset(c, upstream, now_ms()).map_err(db_err_owned(dir))
}

pub(super) fn prune_limits(c: &Connection, dir: &Path) -> Result<(), SpoolError> {
    limits::prune(c, now_ms()).map_err(db_err_owned(dir))
}

fn db_err_owned(dir: &Path) -> impl Fn(rusqlite::Error) -> SpoolError {
    let path = dir.join(DB_FILE);
    move |source| SpoolError::Db {
        path: path.clone(),
        source,
    }
}

/// One upstream's limits as the spool has them.
#[derive(Debug, Clone, Default)]
pub struct LimitState {
    /// (unix ms, units), oldest first.
    pub usage: Vec<(i64, u32)>,
    /// (until unix ms, reason).
    pub pause: Option<(i64, String)>,
    /// Messages waiting for these limits.
    pub waiting: usize,
}

pub(super) fn queue_stats(c: &Connection, dir: &Path) -> Result<(usize, Option<i64>), SpoolError> {
    c.query_row("SELECT count(*), min(created) FROM message", [], |r| {
        Ok((r.get::<_, i64>(0)? as usize, r.get::<_, Option<i64>>(1)?))
    })
    .map_err(db_err_owned(dir))
}
