//! The spool's record of provider limits: what was sent when (per upstream, for the rolling
//! quota windows), pauses a provider asked for, and the operator's manual resets. Kept in the
//! same database as the queue so counters survive a restart, and `smarthost limits` can read and
//! reset them beside a running relay.

use rusqlite::{Connection, OptionalExtension, params};

/// Longer than the longest quota window (a week); older usage rows are dropped.
pub const KEEP_MS: i64 = 8 * 86_400_000;

pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS limit_usage (
        upstream TEXT NOT NULL,
        at INTEGER NOT NULL,
        units INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS limit_usage_upstream_at ON limit_usage(upstream, at);
    CREATE TABLE IF NOT EXISTS limit_pause (
        upstream TEXT PRIMARY KEY,
        until INTEGER NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS limit_reset (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        upstream TEXT,
        at INTEGER NOT NULL
    );";

/// A change to the limits record, written by the relay through the spool writer.
#[derive(Debug, Clone)]
pub enum LimitOp {
    /// `units` counted against `upstream`'s quotas at `at` (unix ms).
    Usage {
        upstream: String,
        at: i64,
        units: u32,
    },
    /// The provider asked for a pause until `until` (unix ms).
    Pause {
        upstream: String,
        until: i64,
        reason: String,
    },
}

pub(super) fn apply(c: &Connection, op: &LimitOp) -> rusqlite::Result<()> {
    match op {
        LimitOp::Usage {
            upstream,
            at,
            units,
        } => {
            c.execute(
                "INSERT INTO limit_usage (upstream, at, units) VALUES (?1, ?2, ?3)",
                params![upstream, at, units],
            )?;
        }
        LimitOp::Pause {
            upstream,
            until,
            reason,
        } => {
            c.execute(
                "INSERT OR REPLACE INTO limit_pause (upstream, until, reason) VALUES (?1, ?2, ?3)",
                params![upstream, until, reason],
            )?;
        }
    }
    Ok(())
}

/// Usage rows (unix ms, units) of `upstream` newer than `since`.
pub(super) fn usage(
    c: &Connection,
    upstream: &str,
    since: i64,
) -> rusqlite::Result<Vec<(i64, u32)>> {
    let mut stmt = c.prepare_cached(
        "SELECT at, units FROM limit_usage WHERE upstream = ?1 AND at > ?2 ORDER BY at",
    )?;
    let rows = stmt.query_map(params![upstream, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The pause in force for `upstream` at `now`, if any: (until, reason).
pub(super) fn pause(
    c: &Connection,
    upstream: &str,
    now: i64,
) -> rusqlite::Result<Option<(i64, String)>> {
    c.query_row(
        "SELECT until, reason FROM limit_pause WHERE upstream = ?1 AND until > ?2",
        params![upstream, now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Grows with every manual reset; the relay reloads its counters when it changes.
pub(super) fn reset_mark(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT coalesce(max(id), 0) FROM limit_reset", [], |r| {
        r.get(0)
    })
}

/// Messages waiting for `upstream`'s limits.
pub(super) fn waiting(c: &Connection, upstream: &str) -> rusqlite::Result<usize> {
    c.query_row(
        "SELECT count(*) FROM message WHERE limited_by = ?1",
        params![upstream],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as usize)
}

/// Forgets the usage and pauses of `upstream` (every upstream when `None`), releases the mail
/// they held, and leaves a mark for the running relay. Returns how many messages were released.
pub(super) fn reset(
    c: &mut Connection,
    upstream: Option<&str>,
    now: i64,
) -> rusqlite::Result<usize> {
    let tx = c.transaction()?;
    let released = match upstream {
        Some(u) => {
            tx.execute("DELETE FROM limit_usage WHERE upstream = ?1", params![u])?;
            tx.execute("DELETE FROM limit_pause WHERE upstream = ?1", params![u])?;
            tx.execute(
                "UPDATE message SET next_attempt = 0, limited_by = NULL WHERE limited_by = ?1",
                params![u],
            )?
        }
        None => {
            tx.execute("DELETE FROM limit_usage", [])?;
            tx.execute("DELETE FROM limit_pause", [])?;
            tx.execute(
                "UPDATE message SET next_attempt = 0, limited_by = NULL WHERE limited_by IS NOT NULL",
                [],
            )?
        }
    };
    tx.execute(
        "INSERT INTO limit_reset (upstream, at) VALUES (?1, ?2)",
        params![upstream, now],
    )?;
    tx.commit()?;
    Ok(released)
}

/// Drops usage older than any window and pauses that have ended.
pub(super) fn prune(c: &Connection, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM limit_usage WHERE at < ?1",
        params![now - KEEP_MS],
    )?;
    c.execute("DELETE FROM limit_pause WHERE until <= ?1", params![now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::spool::{Admin, LimitOp, Spool, now_ms};

    #[tokio::test]
    async fn usage_and_pauses_survive_reopening_the_spool_and_a_reset_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        {
            let (spool, _fresh) = Spool::open(dir.path()).unwrap();
            for (at, units) in [(now - 2000, 1), (now - 1000, 3)] {
                let op = LimitOp::Usage {
                    upstream: "o365".into(),
                    at,
                    units,
                };
                spool.limit(op).await.unwrap();
            }
            let pause = LimitOp::Pause {
                upstream: "o365".into(),
                until: now + 60_000,
                reason: "554 5.2.0 quota".into(),
            };
            spool.limit(pause).await.unwrap();
        }
        // The writer thread lets go of the lock once the last handle is dropped.
        let mut tries = 0;
        let spool = loop {
            match Spool::open(dir.path()) {
                Ok((s, _)) => break s,
                Err(e) if tries < 500 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await
                }
                Err(e) => panic!("cannot reopen the spool: {e}"),
            }
        };
        let state = spool.limit_state("o365", now - 10_000, now).await.unwrap();
        assert_eq!(state.usage, vec![(now - 2000, 1), (now - 1000, 3)]);
        assert_eq!(state.pause, Some((now + 60_000, "554 5.2.0 quota".into())));
        let other = spool.limit_state("gmail", now - 10_000, now).await.unwrap();
        assert!(other.usage.is_empty() && other.pause.is_none());

        let mark = spool.limit_reset_mark().await.unwrap();
        Admin::open(dir.path())
            .unwrap()
            .reset_limits(Some("o365"))
            .unwrap();
        assert!(spool.limit_reset_mark().await.unwrap() > mark);
        let state = spool.limit_state("o365", now - 10_000, now).await.unwrap();
        assert!(state.usage.is_empty() && state.pause.is_none());
    }
}
