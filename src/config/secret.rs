//! Where a password or token comes from (inline, environment, file, OAuth2), read when a
//! connection needs it, never at load and never printed.

use std::fmt;
use std::path::PathBuf;

/// Where a password or token is read from. `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    Env(String),
    File(PathBuf),
    /// An access token obtained through `[upstream.oauth2]`, never a stored value.
    OAuth2,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the token comes from [upstream.oauth2], not from a password source")]
    OAuth2,
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("cannot read password file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Secret {
    /// Reads the secret now, so a rotated password file or token takes effect on the next
    /// connection without a restart.
    pub fn reveal(&self) -> Result<String, SecretError> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::Env(var) => {
                std::env::var(var).map_err(|_| SecretError::EnvMissing(var.clone()))
            }
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                }),
            Secret::OAuth2 => Err(SecretError::OAuth2),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret(inline, redacted)"),
            Secret::Env(v) => write!(f, "Secret(env {v})"),
            Secret::File(p) => write!(f, "Secret(file {})", p.display()),
            Secret::OAuth2 => f.write_str("Secret(oauth2 token)"),
        }
    }
}
