//! `[console]`: the operator console in a browser. Off unless `listen` is set; the embedded
//! "try it" default turns it on at 127.0.0.1:8026 with a one-time login link. On loopback it
//! serves plain HTTP; anywhere else it serves HTTPS with the `[server]` certificate
//! (`tls_cert`/`tls_key`), because the login and the session cookie must never cross a LAN in
//! clear. `tls = true` asks for HTTPS on loopback too.

use std::net::SocketAddr;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    listen: Option<SocketAddr>,
    /// argon2id (PHC form), as `smarthost passwd` prints it.
    password_hash: Option<String>,
    /// HTTPS with the `[server]` certificate; on by itself beyond loopback.
    tls: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub listen: SocketAddr,
    /// `None`: only the one-time link printed at start logs in.
    pub password_hash: Option<String>,
    /// Served over TLS with the `[server]` certificate (and the cookie marked `Secure`).
    pub tls: bool,
}

impl RawConsole {
    /// `server_tls`: whether `[server]` has a certificate the console can serve.
    pub(super) fn validate(
        self,
        server_tls: bool,
    ) -> Result<Option<ConsoleConfig>, (&'static str, String)> {
        let Some(listen) = self.listen else {
            return Ok(None);
        };
        let loopback = listen.ip().is_loopback();
        let tls = self.tls.unwrap_or(!loopback);
        if !loopback && !tls {
            return Err((
                "tls",
                format!(
                    "{listen}: beyond loopback the console serves HTTPS only (the password and \
                     the session cookie must not cross the network in clear); remove `tls = false`"
                ),
            ));
        }
        if tls && !server_tls {
            let (key, what) = match self.tls {
                Some(true) => (
                    "tls",
                    "tls = true serves the console over HTTPS".to_string(),
                ),
                _ => (
                    "listen",
                    format!("{listen}: beyond loopback the console serves HTTPS only"),
                ),
            };
            return Err((
                key,
                format!(
                    "{what}, with the [server] certificate: set tls_cert and tls_key in [server], \
                     or listen on 127.0.0.1"
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
            tls,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(listen: &str, tls: Option<bool>) -> RawConsole {
        RawConsole {
            listen: Some(listen.parse().unwrap()),
            password_hash: None,
            tls,
        }
    }

    #[test]
    fn on_loopback_the_console_serves_plain_http() {
        let c = console("127.0.0.1:8026", None)
            .validate(false)
            .unwrap()
            .unwrap();
        assert!(!c.tls);
    }

    #[test]
    fn beyond_loopback_the_console_serves_https_with_the_server_certificate() {
        let c = console("192.168.1.10:8026", None)
            .validate(true)
            .unwrap()
            .unwrap();
        assert!(c.tls);
    }

    #[test]
    fn beyond_loopback_without_a_server_certificate_is_an_error_naming_listen() {
        let (key, why) = console("0.0.0.0:8026", None).validate(false).unwrap_err();
        assert_eq!(key, "listen");
        assert!(
            why.contains("tls_cert") && why.contains("127.0.0.1"),
            "{why}"
        );
    }

    #[test]
    fn beyond_loopback_plain_http_cannot_be_asked_for() {
        let (key, why) = console("10.0.0.5:8026", Some(false))
            .validate(true)
            .unwrap_err();
        assert_eq!(key, "tls");
        assert!(why.contains("HTTPS only"), "{why}");
    }

    #[test]
    fn https_on_loopback_needs_the_server_certificate() {
        let (key, _) = console("127.0.0.1:8026", Some(true))
            .validate(false)
            .unwrap_err();
        assert_eq!(key, "tls");
        assert!(
            console("127.0.0.1:8026", Some(true))
                .validate(true)
                .unwrap()
                .unwrap()
                .tls
        );
    }
}
