//! Idle sessions of one upstream, kept for the next message: a session idle past
//! [`IDLE_CLOSE`] is never reused (the server may have dropped it, its login may be stale) and
//! is closed by the sweep. Knows nothing about messages, limits or outcomes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::transport::Session;

/// An idle upstream session is closed after this long.
pub const IDLE_CLOSE: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Pool {
    idle: Mutex<Vec<(Session, Instant)>>,
}

impl Pool {
    /// The most recently used session that is still fresh; stale ones met on the way are
    /// dropped (which closes their socket without QUIT).
    pub fn checkout(&self) -> Option<Session> {
        let mut idle = self.lock();
        while let Some((session, at)) = idle.pop() {
            if at.elapsed() <= IDLE_CLOSE {
                return Some(session);
            }
        }
        None
    }

    pub fn checkin(&self, session: Session) {
        self.lock().push((session, Instant::now()));
    }

    /// Closes (QUIT) the sessions idle past [`IDLE_CLOSE`].
    pub async fn close_idle(&self) {
        let stale: Vec<Session> = {
            let mut idle = self.lock();
            let (old, keep): (Vec<_>, Vec<_>) = idle
                .drain(..)
                .partition(|(_, at)| at.elapsed() > IDLE_CLOSE);
            *idle = keep;
            old.into_iter().map(|(s, _)| s).collect()
        };
        for s in stale {
            s.close().await;
        }
    }

    /// Closes every idle session politely (at shutdown).
    pub async fn close_all(&self) {
        let all: Vec<Session> = self.lock().drain(..).map(|(s, _)| s).collect();
        for s in all {
            s.close().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Session, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}
