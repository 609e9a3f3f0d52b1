//! The file transport (`kind = "file"`): each transaction becomes an `.eml` in a directory
//! (`crate::upstream::file` writes it, fsynced, off the async workers). Never sends anything.

use std::path::PathBuf;

use crate::spool::StoredMessage;
use crate::upstream::RcptResult;
use crate::upstream::error::UpstreamError;

pub struct Directory {
    dir: PathBuf,
}

impl Directory {
    pub fn new(dir: PathBuf) -> Directory {
        Directory { dir }
    }

    pub async fn send(
        &self,
        msg: &StoredMessage,
        rcpts: &[usize],
    ) -> Result<Vec<(usize, RcptResult)>, UpstreamError> {
        let path = self.write(msg, rcpts).await.map_err(|e| {
            UpstreamError::Local(format!("cannot write to {}: {e}", self.dir.display()))
        })?;
        let reply = format!("written to {}", path.display());
        Ok(rcpts
            .iter()
            .map(|&i| (i, RcptResult::Delivered(reply.clone())))
            .collect())
    }

    /// File writes fsync; keep them off the async workers.
    async fn write(&self, msg: &StoredMessage, rcpts: &[usize]) -> std::io::Result<PathBuf> {
        let (dir, id, env, rcpts, body) = (
            self.dir.clone(),
            msg.id.clone(),
            msg.envelope.clone(),
            rcpts.to_vec(),
            msg.body.clone(),
        );
        tokio::task::spawn_blocking(move || {
            crate::upstream::file::write(&dir, &id, &env, &rcpts, &body)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
