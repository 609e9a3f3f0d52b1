//! The token state file of one upstream (`<spool>/oauth2-<upstream>.json`, or
//! `refresh_token_file`): the refresh token, and when the access token expires and was last
//! refreshed, for `smarthost oauth2 status`. Written atomically (temporary file, fsync, rename,
//! fsync of the directory) with mode 0600, so a crash never leaves a half-written refresh token
//! and a rotated token is never lost. Never holds the client secret; the access token stays in
//! memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<String>,
    /// Why the last refresh failed, in words (no secret in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl std::fmt::Display for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refresh token {}, access token expires {}, last refresh {}",
            if self.refresh_token.is_some() {
                "present"
            } else {
                "absent"
            },
            self.access_expires_at.as_deref().unwrap_or("-"),
            self.last_refresh.as_deref().unwrap_or("never")
        )
    }
}

pub fn default_path(spool: &Path, upstream: &str) -> PathBuf {
    let safe: String = upstream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    spool.join(format!("oauth2-{safe}.json"))
}

/// The state in `path`; a file holding only a bare token (pasted by hand) is its refresh token.
/// A missing file is an empty state.
pub fn load(path: &Path) -> std::io::Result<TokenState> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenState::default()),
        Err(e) => return Err(e),
    };
    let t = text.trim();
    if t.starts_with('{') {
        serde_json::from_str(t).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a token state file: {e}", path.display()),
            )
        })
    } else if t.is_empty() {
        Ok(TokenState::default())
    } else {
        Ok(TokenState {
            refresh_token: Some(t.to_string()),
            ..TokenState::default()
        })
    }
}

pub fn save(path: &Path, state: &TokenState) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("oauth2")
    ));
    let mut f = crate::fsutil::private_file(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
    )
    .open(&tmp)?;
    let body = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    f.write_all(&body)?;
    f.sync_all()?;
    drop(f);
    crate::fsutil::rename_durable(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_reads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("oauth2-o365.json");
        let s = TokenState {
            refresh_token: Some("rt-1".into()),
            last_refresh: Some("2026-11-24T10:00:00Z".into()),
            ..TokenState::default()
        };
        save(&p, &s).unwrap();
        assert_eq!(load(&p).unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_file_with_a_bare_token_is_a_refresh_token() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rt.txt");
        std::fs::write(&p, "0.AAAA-pasted\n").unwrap();
        assert_eq!(
            load(&p).unwrap().refresh_token.as_deref(),
            Some("0.AAAA-pasted")
        );
        assert_eq!(
            load(&dir.path().join("missing")).unwrap(),
            TokenState::default()
        );
    }
}
