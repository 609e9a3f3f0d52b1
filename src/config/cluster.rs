//! `[cluster]`: two or more relays sharing one set of provider limits through Redis (or
//! Valkey). Parsed and checked here: the server's URL, its password source, this node's name
//! and how many nodes to plan for while Redis is away. The shared state is `crate::cluster`'s.

use std::path::PathBuf;

use serde::Deserialize;

use super::secret::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    redis: String,
    node: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    expected_nodes: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `redis://host:port[/db]` or `rediss://` for TLS; never with a password in it.
    pub redis: String,
    pub password: Option<Secret>,
    /// This relay's name among the nodes (default: the host name).
    pub node: String,
    /// Nodes to plan for while Redis cannot be reached, when fewer were seen alive.
    pub expected_nodes: Option<usize>,
}

impl RawCluster {
    /// `Err((key, message))` for the first problem.
    pub(super) fn validate(self, hostname: &str) -> Result<ClusterConfig, (&'static str, String)> {
        let url = self.redis.trim();
        let rest = url
            .strip_prefix("redis://")
            .or_else(|| url.strip_prefix("rediss://"))
            .ok_or((
                "redis",
                format!("`{url}` is not a redis:// or rediss:// address"),
            ))?;
        let authority = rest.split('/').next().unwrap_or("");
        if authority.contains('@') {
            return Err((
                "redis",
                "put the password in password_env or password_file, not in the URL".into(),
            ));
        }
        if authority.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err((
                "redis",
                format!("`{url}` is not a redis:// or rediss:// address"),
            ));
        }
        let password = match (self.password_env, self.password_file) {
            (Some(_), Some(_)) => {
                return Err((
                    "password_env",
                    "set password_env or password_file, not both".into(),
                ));
            }
            (Some(v), None) => Some(Secret::Env(v)),
            (None, Some(f)) => Some(Secret::File(f)),
            (None, None) => None,
        };
        let node = self
            .node
            .or_else(host_name)
            .unwrap_or_else(|| hostname.to_string());
        if node.is_empty()
            || !node
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err((
                "node",
                format!("`{node}` is not a node name (letters, digits, - _ .)"),
            ));
        }
        if self.expected_nodes == Some(0) {
            return Err(("expected_nodes", "expected_nodes must be at least 1".into()));
        }
        Ok(ClusterConfig {
            redis: url.to_string(),
            password,
            node,
            expected_nodes: self.expected_nodes,
        })
    }
}

/// This machine's host name, as the default node name.
fn host_name() -> Option<String> {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return None;
        }
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        let name = String::from_utf8_lossy(&buf[..end]).into_owned();
        (!name.is_empty()).then_some(name)
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").ok()
    }
}
