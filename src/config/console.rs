//! `[console]`: the operator console in a browser. Off unless `listen` is set; the embedded
//! "try it" default turns it on at 127.0.0.1:8026 with a one-time login link. It serves plain
//! HTTP, so it listens on loopback only (reach it from elsewhere through an SSH tunnel or a
//! reverse proxy with TLS).

use std::net::SocketAddr;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    listen: Option<SocketAddr>,
    /// argon2id (PHC form), as `smarthost passwd` prints it.
    password_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub listen: SocketAddr,
    /// `None`: only the one-time link printed at start logs in.
    pub password_hash: Option<String>,
}

impl RawConsole {
    pub(super) fn validate(self) -> Result<Option<ConsoleConfig>, (&'static str, String)> {
        let Some(listen) = self.listen else {
            return Ok(None);
        };
        if !listen.ip().is_loopback() {
            return Err((
                "listen",
                format!(
                    "{listen}: the console serves plain HTTP, so it listens on loopback only \
                     (127.0.0.1); reach it through an SSH tunnel or a reverse proxy with TLS"
                ),
            ));
        }
        if let Some(h) = &self.password_hash
            && !h.starts_with("$argon2id$")
        {
            return Err((
                "password_hash",
                "not an argon2id hash: `smarthost passwd` prints one".into(),
            ));
        }
        Ok(Some(ConsoleConfig {
            listen,
            password_hash: self.password_hash,
        }))
    }
}
