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
    ca_file: Option<PathBuf>,
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
    /// For `rediss://`: the CA (PEM) that issued the Redis server's certificate, read at load,
    /// when it is not one the system trusts (an office's own CA, a self-signed certificate).
    pub ca_pem: Option<Vec<u8>>,
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
        let ca_pem = ca_pem(self.ca_file, url.starts_with("rediss://"))?;
        Ok(ClusterConfig {
            redis: url.to_string(),
            password,
            node,
            expected_nodes: self.expected_nodes,
            ca_pem,
        })
    }
}

/// The CA file's certificates, checked at load so a wrong path or a key file given by mistake
/// is an error naming `ca_file`, not a Redis that "cannot be reached" later.
fn ca_pem(file: Option<PathBuf>, tls: bool) -> Result<Option<Vec<u8>>, (&'static str, String)> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let Some(file) = file else {
        return Ok(None);
    };
    if !tls {
        return Err((
            "ca_file",
            "ca_file is for a rediss:// (TLS) address; this one is redis://".into(),
        ));
    }
    let pem = std::fs::read(&file).map_err(|e| ("ca_file", format!("{}: {e}", file.display())))?;
    let certs = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>();
    match certs {
        Ok(c) if !c.is_empty() => Ok(Some(pem)),
        _ => Err((
            "ca_file",
            format!("{}: no PEM certificate in it", file.display()),
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(redis: &str, ca_file: Option<PathBuf>) -> RawCluster {
        RawCluster {
            redis: redis.into(),
            node: Some("relay-a".into()),
            password_env: None,
            password_file: None,
            expected_nodes: None,
            ca_file,
        }
    }

    fn ca_pem_file(dir: &std::path::Path) -> PathBuf {
        let ck = rcgen::generate_simple_self_signed(vec!["redis.test".into()]).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, ck.cert.pem()).unwrap();
        path
    }

    #[test]
    fn a_password_in_the_url_is_refused() {
        let (key, why) = raw("redis://:secret@10.0.0.5", None)
            .validate("h")
            .unwrap_err();
        assert_eq!(key, "redis");
        assert!(
            why.contains("password_file") && !why.contains("secret"),
            "{why}"
        );
    }

    #[test]
    fn a_ca_file_is_read_at_load_for_rediss() {
        let dir = tempfile::tempdir().unwrap();
        let c = raw("rediss://10.0.0.5:6380", Some(ca_pem_file(dir.path())))
            .validate("h")
            .unwrap();
        assert!(
            c.ca_pem
                .is_some_and(|p| p.starts_with(b"-----BEGIN CERTIFICATE"))
        );
    }

    #[test]
    fn a_ca_file_for_plain_redis_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (key, why) = raw("redis://10.0.0.5", Some(ca_pem_file(dir.path())))
            .validate("h")
            .unwrap_err();
        assert_eq!(key, "ca_file");
        assert!(why.contains("rediss://"), "{why}");
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let (key, why) = raw("rediss://10.0.0.5", Some(path))
            .validate("h")
            .unwrap_err();
        assert_eq!(key, "ca_file");
        assert!(why.contains("no PEM certificate"), "{why}");
        let (key, _) = raw("rediss://10.0.0.5", Some(dir.path().join("missing.pem")))
            .validate("h")
            .unwrap_err();
        assert_eq!(key, "ca_file");
    }
}
