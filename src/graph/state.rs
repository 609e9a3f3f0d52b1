//! Which step of a draft-path send succeeded, kept in the spool directory
//! (`graph-<upstream>/<key>.json`, written to a temp name, fsynced, renamed) so that an attempt
//! interrupted by a crash or an error finishes or cleans up its draft and never sends twice.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::GraphError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub id: String,
    pub mailbox: String,
    /// `send` was requested: Graph may have sent it already.
    pub sending: bool,
}

pub struct DraftBook {
    dir: PathBuf,
}

impl DraftBook {
    pub fn new(spool: &Path, upstream: &str) -> DraftBook {
        DraftBook {
            dir: spool.join(format!("graph-{}", safe(upstream))),
        }
    }

    pub async fn get(&self, key: &str) -> Option<Draft> {
        let path = self.path(key);
        let text = tokio::fs::read(&path).await.ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub async fn put(&self, key: &str, draft: &Draft) -> Result<(), GraphError> {
        let (dir, path) = (self.dir.clone(), self.path(key));
        let bytes = serde_json::to_vec(draft).map_err(|e| GraphError::Local(e.to_string()))?;
        tokio::task::spawn_blocking(move || write_durably(&dir, &path, &bytes))
            .await
            .map_err(|e| GraphError::Local(e.to_string()))?
            .map_err(|e| GraphError::Local(format!("cannot record the Graph draft: {e}")))
    }

    pub async fn forget(&self, key: &str) {
        let _ = tokio::fs::remove_file(self.path(key)).await;
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", safe(key)))
    }
}

fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    crate::fsutil::rename_durable(&tmp, path)
}

/// Names from the configuration and queue ids become file names: letters, digits, `-`, `_`.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
