//! Reading queued messages for delivery and for `queue list`: the rows, decoded into
//! [`StoredMessage`]s; a row that cannot be read is skipped and logged, never fatal.

use std::path::Path;

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::SpoolError;
use super::record::{QueueEntry, StoredMessage};
use super::store::{DB_FILE, db_err, decode};

pub(super) const MESSAGE_COLUMNS: &str = "id, created, envelope, rcpts, body, attempts, warned";

/// One `message` row as stored, before its JSON is decoded.
pub(super) struct MessageRow {
    id: String,
    created: i64,
    envelope: String,
    rcpts: String,
    body: Vec<u8>,
    attempts: u32,
    warned: bool,
}

impl MessageRow {
    pub(super) fn read(r: &rusqlite::Row) -> rusqlite::Result<MessageRow> {
        Ok(MessageRow {
            id: r.get(0)?,
            created: r.get(1)?,
            envelope: r.get(2)?,
            rcpts: r.get(3)?,
            body: r.get(4)?,
            attempts: r.get(5)?,
            warned: r.get(6)?,
        })
    }

    pub(super) fn into_message(self) -> Result<StoredMessage, String> {
        let (env, rcpts) = decode(&self.envelope, &self.rcpts)?;
        Ok(StoredMessage {
            id: self.id,
            created: self.created,
            envelope: env.envelope,
            rcpts,
            body: Arc::new(self.body),
            attempts: self.attempts,
            warned: self.warned,
        })
    }
}

pub(super) fn due(
    c: &Connection,
    dir: &Path,
    now: i64,
    limit: usize,
    include_unattempted: bool,
) -> Result<Vec<StoredMessage>, SpoolError> {
    let path = dir.join(DB_FILE);
    let e = db_err(&path);
    let mut stmt = c
        .prepare(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM message
             WHERE held = 0 AND (next_attempt <= ?1 OR (?3 AND attempts = 0))
             ORDER BY next_attempt LIMIT ?2"
        ))
        .map_err(&e)?;
    let rows = stmt
        .query_map(
            params![now, limit as i64, include_unattempted],
            MessageRow::read,
        )
        .map_err(&e)?;
    let mut out = Vec::new();
    for row in rows {
        let row = row.map_err(&e)?;
        let id = row.id.clone();
        match row.into_message() {
            Ok(m) => out.push(m),
            Err(reason) => {
                tracing::error!(queue_id = %id, "unreadable spool entry skipped: {reason}")
            }
        }
    }
    Ok(out)
}

pub(super) fn list(c: &Connection, dir: &Path) -> Result<Vec<QueueEntry>, SpoolError> {
    let path = dir.join(DB_FILE);
    let e = db_err(&path);
    let mut stmt = c
        .prepare("SELECT id, envelope, rcpts, attempts, next_attempt, held, created, limited_by FROM message ORDER BY id")
        .map_err(&e)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .map_err(&e)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, env, rcpts, attempts, next_attempt, held, created, limited_by) =
            row.map_err(&e)?;
        if let Ok((env, states)) = decode(&env, &rcpts) {
            let rcpts = env
                .envelope
                .recipients
                .iter()
                .map(|r| r.address.clone())
                .zip(states)
                .collect();
            out.push(QueueEntry {
                id,
                upstream: env.envelope.upstream,
                mail_from: env.envelope.mail_from,
                rcpts,
                attempts,
                next_attempt,
                held,
                created,
                limited_by,
            });
        }
    }
    Ok(out)
}

// === Operator actions (`smarthost queue ...`), on their own connection ===

pub(super) fn load(
    c: &Connection,
    dir: &Path,
    id: &str,
) -> Result<Option<StoredMessage>, SpoolError> {
    let path = dir.join(DB_FILE);
    let e = db_err(&path);
    let row = c
        .query_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM message WHERE id = ?1"),
            params![id],
            MessageRow::read,
        )
        .optional()
        .map_err(&e)?;
    row.map(|r| r.into_message().map_err(SpoolError::Commit))
        .transpose()
}
