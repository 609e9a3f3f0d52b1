//! `[server]`: the listeners, who may connect and log in, and the limits of one session.
//! Parsing and validation of the section; the sockets are the listener's, the TLS material
//! `crate::tls`'s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::checks::find_key_line;
use super::hardening::{BareNewlines, default_memory_budget};
use super::values::{ByteSize, DurationValue, Network, Rate};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: Vec<SocketAddr>,
    /// Implicit-TLS listeners: TLS from the first byte (port 465 style).
    pub listen_tls: Vec<SocketAddr>,
    pub hostname: String,
    pub max_message_size: u64,
    pub tls: Option<TlsFiles>,
    /// Clients allowed to connect; everyone else gets `554 5.7.1` at connect.
    pub allowed_networks: Vec<Network>,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub max_errors: u32,
    pub max_recipients: usize,
    pub max_connections: usize,
    /// Concurrent sessions from one address (0: no limit).
    pub max_sessions_per_address: usize,
    /// Messages per client (account, else address), e.g. "60/min"; `None`: no limit.
    pub client_rate: Option<Rate>,
    pub auth: AuthPolicy,
    /// Bare CR/LF and NUL inside DATA (see `config/hardening.rs`).
    pub bare_newlines: BareNewlines,
    /// Bytes of message bodies all sessions together may hold (see `config/hardening.rs`).
    pub memory_budget: u64,
}

/// Who must log in, and how hard failed logins are punished (`[server]` keys).
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// A client account may connect from outside `allowed_networks` if it logs in.
    pub from_anywhere: bool,
    /// Every session must log in before MAIL.
    pub required: bool,
    /// AUTH without TLS from 127.0.0.0/8 and ::1 (a program on the relay's own machine: there
    /// is no network to protect); never from elsewhere. On by default.
    pub plain_on_loopback: bool,
    /// `[server] accept_any_login`: any name and password log in (the name becomes the
    /// session's client name). Only in force without `[[client]]` accounts: [`Config::load`]
    /// clears it when accounts exist.
    ///
    /// [`Config::load`]: super::Config::load
    pub accept_any: bool,
    /// Failed logins from one address before it is banned.
    pub fail_limit: u32,
    pub ban: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub min_version: TlsVersion,
}

/// The oldest TLS version offered to clients (`tls_min_version`). rustls implements 1.2 and
/// 1.3 only; 1.0 and 1.1 are refused at config load with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    #[serde(default = "default_hostname")]
    pub hostname: String,
    #[serde(default = "default_max_size")]
    pub max_message_size: ByteSize,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// "1.2" (default) or "1.3".
    pub tls_min_version: Option<String>,
    /// Implicit-TLS listeners (SMTPS, e.g. "0.0.0.0:465"), beside `listen`.
    #[serde(default)]
    pub listen_tls: Vec<SocketAddr>,
    #[serde(default = "default_networks")]
    pub allowed_networks: Vec<Network>,
    #[serde(default = "default_command_timeout")]
    pub command_timeout: DurationValue,
    #[serde(default = "default_data_timeout")]
    pub data_timeout: DurationValue,
    #[serde(default = "default_max_errors")]
    pub max_errors: u32,
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_sessions_per_address")]
    pub max_sessions_per_address: usize,
    pub client_rate: Option<Rate>,
    #[serde(default)]
    pub auth_from_anywhere: bool,
    #[serde(default)]
    pub require_auth: bool,
    #[serde(default = "default_true")]
    pub allow_plain_auth_on_loopback: bool,
    #[serde(default = "default_true")]
    pub accept_any_login: bool,
    #[serde(default = "default_auth_fail_limit")]
    pub auth_fail_limit: u32,
    #[serde(default = "default_auth_ban")]
    pub auth_ban: DurationValue,
    #[serde(default)]
    pub bare_newlines: BareNewlines,
    #[serde(default = "default_memory_budget")]
    pub memory_budget: ByteSize,
}

fn default_true() -> bool {
    true
}

fn default_sessions_per_address() -> usize {
    100
}

fn default_auth_fail_limit() -> u32 {
    5
}

fn default_auth_ban() -> DurationValue {
    DurationValue(Duration::from_secs(15 * 60))
}

impl Default for RawServer {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl RawServer {
    /// The section as the relay uses it; each problem goes to `err(line, key, message)`.
    pub fn validate(self, text: &str, err: &mut dyn FnMut(usize, String, String)) -> ServerConfig {
        let min_version = min_version(self.tls_min_version.as_deref(), text, err);
        let s = self;
        let tls = match (s.tls_cert, s.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                min_version,
            }),
            (None, None) => None,
            (cert, _) => {
                let missing = if cert.is_some() {
                    "tls_key"
                } else {
                    "tls_cert"
                };
                err(
                    find_key_line(text, missing),
                    format!("server.{missing}"),
                    "tls_cert and tls_key must be set together".into(),
                );
                None
            }
        };
        if !s.listen_tls.is_empty() && tls.is_none() {
            err(
                find_key_line(text, "listen_tls"),
                "server.listen_tls".into(),
                "listen_tls needs tls_cert and tls_key".into(),
            );
        }
        if s.listen.is_empty() {
            err(
                find_key_line(text, "listen"),
                "server.listen".into(),
                "at least one address is needed".into(),
            );
        }
        ServerConfig {
            listen: s.listen,
            listen_tls: s.listen_tls,
            hostname: s.hostname,
            max_message_size: s.max_message_size.0,
            tls,
            allowed_networks: s.allowed_networks,
            command_timeout: s.command_timeout.0,
            data_timeout: s.data_timeout.0,
            max_errors: s.max_errors,
            max_recipients: s.max_recipients,
            max_connections: s.max_connections,
            max_sessions_per_address: s.max_sessions_per_address,
            client_rate: s.client_rate,
            auth: AuthPolicy {
                from_anywhere: s.auth_from_anywhere,
                required: s.require_auth,
                plain_on_loopback: s.allow_plain_auth_on_loopback,
                accept_any: s.accept_any_login,
                fail_limit: s.auth_fail_limit.max(1),
                ban: s.auth_ban.0,
            },
            bare_newlines: s.bare_newlines,
            memory_budget: s.memory_budget.0,
        }
    }
}

/// `tls_min_version`: "1.2" (default) or "1.3"; 1.0 and 1.1 are refused with the reason.
fn min_version(
    value: Option<&str>,
    text: &str,
    err: &mut dyn FnMut(usize, String, String),
) -> TlsVersion {
    match value.map(str::trim) {
        None | Some("1.2") => TlsVersion::Tls12,
        Some("1.3") => TlsVersion::Tls13,
        Some(v @ ("1.0" | "1.1")) => {
            err(
                find_key_line(text, "tls_min_version"),
                "server.tls_min_version".into(),
                format!(
                    "TLS {v} is not available: smarthost's TLS library (rustls) implements only 1.2 and 1.3, \
                     TLS 1.0/1.1 are broken and disabled by current clients. A device that cannot do 1.2 \
                     must send in plain text from an address in allowed_networks"
                ),
            );
            TlsVersion::Tls12
        }
        Some(other) => {
            err(
                find_key_line(text, "tls_min_version"),
                "server.tls_min_version".into(),
                format!("`{other}` is not a TLS version (1.2 or 1.3)"),
            );
            TlsVersion::Tls12
        }
    }
}

fn default_listen() -> Vec<SocketAddr> {
    vec!["127.0.0.1:2525".parse().expect("literal address")]
}
fn default_hostname() -> String {
    "smarthost.local".into()
}
fn default_max_size() -> ByteSize {
    ByteSize(35_000_000)
}
fn default_networks() -> Vec<Network> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .map(|n| n.parse().expect("literal network"))
        .collect()
}
fn default_command_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(300))
}
fn default_data_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(600))
}
fn default_max_errors() -> u32 {
    10
}
fn default_max_recipients() -> usize {
    1000
}
fn default_max_connections() -> usize {
    1000
}
