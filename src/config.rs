//! Configuration: one typed value, built once from TOML and validated at load. Owns parsing,
//! defaults and the embedded "try it" config; never opens sockets or spool files. Errors name the
//! file, line and key ([`ConfigError`]); secrets are never printed.

mod auth;
mod clients;
mod error;
pub mod hardening;
mod oauth2;
pub mod policy;
pub mod presets;
mod profiles;
mod upstream;
pub mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use auth::{DkimConfig, SpfConfig, SpfMode, SpfResult};
pub use clients::{ClientAccount, hash_password};
pub use error::{ConfigError, ConfigErrors};
pub use oauth2::{Flow, OAuth2Config};
pub use profiles::{Origin, Profile, ProfileMatch};
pub use upstream::{
    Credentials, Egress, Quota, QuotaWindow, Secret, SecretError, SmtpUpstream, Transport, Upstream,
};
pub use values::{
    AuthMode, Batch, ByteSize, ConnMode, Count, DurationValue, Network, PortSpec, Rate,
};

pub use policy::{
    BlacklistAction, BlacklistConfig, Importance, PolicyConfig, ReplyTo, RewriteConfig,
    TestModeConfig,
};

use error::Locator;
use upstream::RawUpstream;

/// The embedded default: listen on 127.0.0.1:2525 and write every message into `outbox/`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../conf/default.toml");

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub spool: SpoolConfig,
    pub admin: AdminConfig,
    /// `[[client]]` accounts that may log in to the relay.
    pub clients: Vec<ClientAccount>,
    /// `[[profile]]`s, in file order: the first that matches a message applies.
    pub profiles: Vec<Profile>,
    pub upstreams: Vec<Upstream>,
    /// Global policy sections; an upstream may override each of them.
    pub policy: PolicyConfig,
    pub retry: crate::outcome::RetryPolicy,
    /// `[spf]`: the sender-domain check before relaying.
    pub spf: SpfConfig,
    /// `[dkim]`: signing for every upstream without its own `[upstream.dkim]`.
    pub dkim: Option<DkimConfig>,
    /// Where the config was read from, for messages; `<embedded default>` otherwise.
    pub source: PathBuf,
}

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
    pub bare_newlines: hardening::BareNewlines,
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
    /// PLAIN/LOGIN without TLS from 127.0.0.0/8 and ::1 (old software); never from elsewhere.
    pub plain_on_loopback: bool,
    /// Failed logins from one address before it is banned.
    pub fail_limit: u32,
    pub ban: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub min_version: crate::tls::TlsVersion,
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
}

/// `[admin]`: the optional HTTP listener for Prometheus metrics and `/status` (off by default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub listen: Option<SocketAddr>,
}

#[derive(Debug)]
struct RawConfig {
    server: RawServer,
    spool: RawSpool,
    retry: RawRetry,
    admin: AdminConfig,
    spf: auth::RawSpf,
    dkim: Option<DkimConfig>,
    client: Vec<clients::RawClient>,
    profile: Vec<profiles::RawProfile>,
    policy: PolicyConfig,
    upstream: Vec<toml::Spanned<RawUpstream>>,
    /// `[[upstream]]` tables in the file, including those that failed to deserialise.
    upstreams_declared: usize,
}

impl RawConfig {
    /// A syntax error is returned (nothing else can be read); after that each section, and each
    /// `[[upstream]]`, is deserialised on its own and its error passed to `error`, so one bad
    /// section does not hide the mistakes in the others. A bad section keeps its defaults.
    fn parse(
        text: &str,
        error: &mut dyn FnMut(Option<std::ops::Range<usize>>, &str),
    ) -> Result<RawConfig, toml::de::Error> {
        use toml::de::{DeTable, DeValue, ValueDeserializer};
        let root = DeTable::parse(text)?;
        let mut raw = RawConfig {
            server: RawServer::default(),
            spool: RawSpool::default(),
            retry: RawRetry::default(),
            admin: AdminConfig::default(),
            spf: auth::RawSpf::default(),
            dkim: None,
            client: Vec::new(),
            profile: Vec::new(),
            policy: PolicyConfig::default(),
            upstream: Vec::new(),
            upstreams_declared: 0,
        };
        for (name, value) in root.into_inner() {
            match name.get_ref().as_ref() {
                "server" => match RawServer::deserialize(ValueDeserializer::from(value)) {
                    Ok(s) => raw.server = s,
                    Err(e) => error(e.span(), e.message()),
                },
                "spool" => match RawSpool::deserialize(ValueDeserializer::from(value)) {
                    Ok(s) => raw.spool = s,
                    Err(e) => error(e.span(), e.message()),
                },
                "retry" => match RawRetry::deserialize(ValueDeserializer::from(value)) {
                    Ok(s) => raw.retry = s,
                    Err(e) => error(e.span(), e.message()),
                },
                "client" => {
                    match Vec::<clients::RawClient>::deserialize(ValueDeserializer::from(value)) {
                        Ok(c) => raw.client = c,
                        Err(e) => error(e.span(), e.message()),
                    }
                }
                "profile" => {
                    match Vec::<profiles::RawProfile>::deserialize(ValueDeserializer::from(value)) {
                        Ok(p) => raw.profile = p,
                        Err(e) => error(e.span(), e.message()),
                    }
                }
                "admin" => match AdminConfig::deserialize(ValueDeserializer::from(value)) {
                    Ok(s) => raw.admin = s,
                    Err(e) => error(e.span(), e.message()),
                },
                "spf" => match auth::RawSpf::deserialize(ValueDeserializer::from(value)) {
                    Ok(s) => raw.spf = s,
                    Err(e) => error(e.span(), e.message()),
                },
                "dkim" => match DkimConfig::deserialize(ValueDeserializer::from(value)) {
                    Ok(d) => raw.dkim = Some(d),
                    Err(e) => error(e.span(), e.message()),
                },
                "blacklist" => match BlacklistConfig::deserialize(ValueDeserializer::from(value)) {
                    Ok(s) => raw.policy.blacklist = s,
                    Err(e) => error(e.span(), e.message()),
                },
                "test_mode" => match TestModeConfig::deserialize(ValueDeserializer::from(value)) {
                    Ok(s) => raw.policy.test_mode = s,
                    Err(e) => error(e.span(), e.message()),
                },
                "rewrite" => match RewriteConfig::deserialize(ValueDeserializer::from(value)) {
                    Ok(s) => raw.policy.rewrite = s,
                    Err(e) => error(e.span(), e.message()),
                },
                "upstream" => {
                    let span = value.span();
                    let DeValue::Array(items) = value.into_inner() else {
                        error(Some(span), "expected [[upstream]] tables");
                        continue;
                    };
                    raw.upstreams_declared = items.len();
                    for item in items {
                        let span = item.span();
                        match RawUpstream::deserialize(ValueDeserializer::from(item)) {
                            Ok(u) => raw.upstream.push(toml::Spanned::new(span, u)),
                            Err(e) => error(e.span(), e.message()),
                        }
                    }
                }
                other => error(
                    Some(name.span()),
                    &format!(
                        "unknown section `{other}`, expected one of `server`, `spool`, `retry`, `admin`, `spf`, `dkim`, `client`, `profile`, `blacklist`, `test_mode`, `rewrite`, `upstream`"
                    ),
                ),
            }
        }
        Ok(raw)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default = "default_listen")]
    listen: Vec<SocketAddr>,
    #[serde(default = "default_hostname")]
    hostname: String,
    #[serde(default = "default_max_size")]
    max_message_size: ByteSize,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    /// "1.2" (default) or "1.3".
    tls_min_version: Option<String>,
    /// Implicit-TLS listeners (SMTPS, e.g. "0.0.0.0:465"), beside `listen`.
    #[serde(default)]
    listen_tls: Vec<SocketAddr>,
    #[serde(default = "default_networks")]
    allowed_networks: Vec<Network>,
    #[serde(default = "default_command_timeout")]
    command_timeout: DurationValue,
    #[serde(default = "default_data_timeout")]
    data_timeout: DurationValue,
    #[serde(default = "default_max_errors")]
    max_errors: u32,
    #[serde(default = "default_max_recipients")]
    max_recipients: usize,
    #[serde(default = "default_max_connections")]
    max_connections: usize,
    #[serde(default = "default_sessions_per_address")]
    max_sessions_per_address: usize,
    client_rate: Option<Rate>,
    #[serde(default)]
    auth_from_anywhere: bool,
    #[serde(default)]
    require_auth: bool,
    #[serde(default)]
    allow_plain_auth_on_loopback: bool,
    #[serde(default = "default_auth_fail_limit")]
    auth_fail_limit: u32,
    #[serde(default = "default_auth_ban")]
    auth_ban: DurationValue,
    #[serde(default)]
    bare_newlines: hardening::BareNewlines,
    #[serde(default = "hardening::default_memory_budget")]
    memory_budget: ByteSize,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    #[serde(default = "default_schedule")]
    schedule: Vec<DurationValue>,
    #[serde(default = "default_max_age")]
    max_age: DurationValue,
    #[serde(default = "default_delay_warning")]
    delay_warning: DurationValue,
}

impl Default for RawRetry {
    fn default() -> Self {
        RawRetry {
            schedule: default_schedule(),
            max_age: default_max_age(),
            delay_warning: default_delay_warning(),
        }
    }
}

fn default_schedule() -> Vec<DurationValue> {
    crate::outcome::RetryPolicy::default()
        .schedule
        .into_iter()
        .map(DurationValue)
        .collect()
}
fn default_max_age() -> DurationValue {
    DurationValue(crate::outcome::RetryPolicy::default().max_age)
}
fn default_delay_warning() -> DurationValue {
    DurationValue(
        crate::outcome::RetryPolicy::default()
            .delay_warning
            .unwrap_or_default(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    #[serde(default = "default_spool_dir")]
    dir: PathBuf,
}

impl Default for RawSpool {
    fn default() -> Self {
        RawSpool {
            dir: default_spool_dir(),
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
fn default_spool_dir() -> PathBuf {
    PathBuf::from("spool")
}

impl Config {
    /// Reads and validates `path`. Relative paths inside the file stay relative to the working
    /// directory, as with Postfix's `main.cf`.
    pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: 0,
                key: String::new(),
                message: format!("cannot read the configuration file: {e}"),
            }])
        })?;
        Config::load(&text, path)
    }

    /// The SMTP upstreams, all or only the one named; the names of every upstream when none
    /// matches (for the error message).
    pub fn smtp_upstreams(&self, name: Option<&str>) -> Result<Vec<(&str, &SmtpUpstream)>, String> {
        let found: Vec<(&str, &SmtpUpstream)> = self
            .upstreams
            .iter()
            .filter_map(|u| match &u.transport {
                Transport::Smtp(s) => Some((u.name.as_str(), s)),
                Transport::File { .. } => None,
            })
            .filter(|(n, _)| name.is_none_or(|want| want == *n))
            .collect();
        if found.is_empty() {
            let known: Vec<&str> = self.upstreams.iter().map(|u| u.name.as_str()).collect();
            return Err(known.join(", "));
        }
        Ok(found)
    }

    /// Upstreams whose password or token is written in the file itself (`password = "..."`).
    pub fn inline_secrets(&self) -> Vec<&str> {
        self.upstreams
            .iter()
            .filter(|u| match &u.transport {
                Transport::Smtp(s) => s
                    .credentials
                    .as_ref()
                    .is_some_and(|c| matches!(c.secret, Secret::Inline(_))),
                Transport::File { .. } => false,
            })
            .map(|u| u.name.as_str())
            .collect()
    }

    /// A warning when the file is readable by every local user and holds a password.
    pub fn exposed_secrets_warning(&self) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let names = self.inline_secrets();
        if names.is_empty() {
            return None;
        }
        let mode = std::fs::metadata(&self.source).ok()?.permissions().mode();
        (mode & 0o004 != 0).then(|| {
            format!(
                "warning: {} is readable by every user on this machine and holds the password of upstream {}; \
                 run `chmod 600 {}` or use password_env / password_file",
                self.source.display(),
                names.join(", "),
                self.source.display()
            )
        })
    }

    pub fn embedded_default() -> Config {
        Config::load(EMBEDDED_DEFAULT, Path::new("<embedded default>"))
            .expect("embedded default config is valid")
    }

    /// Pure: text in, validated config or every error found out.
    pub fn load(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
        let loc = Locator::new(text);
        let at = |line: usize, key: String, message: String| ConfigError {
            file: path.to_path_buf(),
            line,
            key,
            message,
        };
        let located = |span: Option<std::ops::Range<usize>>, message: &str| {
            let (line, key) = match span {
                Some(span) => (loc.line_of(span.start), loc.key_at(span.start)),
                None => (0, String::new()),
            };
            let message = if is_secret_key(&key) {
                "invalid value (not shown: this key holds a secret); expected a string".to_string()
            } else {
                message.trim().to_string()
            };
            at(line, key, message)
        };
        let mut errors = Vec::new();
        let raw = RawConfig::parse(text, &mut |span, msg| errors.push(located(span, msg)))
            .map_err(|e| ConfigErrors(vec![located(e.span(), e.message())]))?;

        let mut upstreams = Vec::new();
        let declared = raw.upstreams_declared;
        for spanned in raw.upstream {
            let start = spanned.span().start;
            let raw_up = spanned.into_inner();
            let name = raw_up.name.clone();
            match raw_up.validate() {
                Ok(u) => upstreams.push(u),
                Err(p) => errors.push(at(
                    loc.key_line_in(start, p.key),
                    format!("upstream.{}", p.key),
                    format!("upstream \"{name}\": {}", p.message),
                )),
            }
        }
        check_upstream_set(&upstreams, declared, text, &mut |line, key, msg| {
            errors.push(at(line, key, msg))
        });

        let s = raw.server;
        let min_version = match s.tls_min_version.as_deref().map(str::trim) {
            None | Some("1.2") => crate::tls::TlsVersion::Tls12,
            Some("1.3") => crate::tls::TlsVersion::Tls13,
            Some(v @ ("1.0" | "1.1")) => {
                errors.push(at(
                    find_key_line(text, "tls_min_version"),
                    "server.tls_min_version".into(),
                    format!(
                        "TLS {v} is not available: smarthost's TLS library (rustls) implements only 1.2 and 1.3, \
                         TLS 1.0/1.1 are broken and disabled by current clients. A device that cannot do 1.2 \
                         must send in plain text from an address in allowed_networks"
                    ),
                ));
                crate::tls::TlsVersion::Tls12
            }
            Some(other) => {
                errors.push(at(
                    find_key_line(text, "tls_min_version"),
                    "server.tls_min_version".into(),
                    format!("`{other}` is not a TLS version (1.2 or 1.3)"),
                ));
                crate::tls::TlsVersion::Tls12
            }
        };
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
                errors.push(at(
                    find_key_line(text, missing),
                    format!("server.{missing}"),
                    "tls_cert and tls_key must be set together".into(),
                ));
                None
            }
        };
        if raw.retry.schedule.is_empty() {
            errors.push(at(
                find_key_line(text, "schedule"),
                "retry.schedule".into(),
                "give at least one interval".into(),
            ));
        }
        if !s.listen_tls.is_empty() && tls.is_none() {
            errors.push(at(
                find_key_line(text, "listen_tls"),
                "server.listen_tls".into(),
                "listen_tls needs tls_cert and tls_key".into(),
            ));
        }
        if s.listen.is_empty() {
            errors.push(at(
                find_key_line(text, "listen"),
                "server.listen".into(),
                "at least one address is needed".into(),
            ));
        }
        let mut clients = Vec::new();
        for c in raw.client {
            match c.validate() {
                Ok(c) => clients.push(c),
                Err((key, message)) => errors.push(at(
                    find_key_line(text, key),
                    format!("client.{key}"),
                    message,
                )),
            }
        }
        let mut profiles = Vec::new();
        for (i, p) in raw.profile.into_iter().enumerate() {
            match p.validate(i) {
                Ok(p) => {
                    let unknown_upstream = p
                        .upstream
                        .as_ref()
                        .filter(|n| !upstreams.iter().any(|u: &Upstream| &u.name == *n));
                    let unknown_client = p
                        .matches
                        .client
                        .as_ref()
                        .filter(|n| !clients.iter().any(|c: &ClientAccount| &c.name == *n));
                    if let Some(n) = unknown_upstream {
                        errors.push(at(
                            find_key_line(text, "upstream"),
                            "profile.upstream".into(),
                            format!("{}: no upstream named {n}", p.name),
                        ));
                    } else if let Some(n) = unknown_client {
                        errors.push(at(
                            find_key_line(text, "match"),
                            "profile.match".into(),
                            format!("{}: no [[client]] named {n}", p.name),
                        ));
                    } else {
                        profiles.push(p);
                    }
                }
                Err((key, message)) => errors.push(at(
                    find_key_line(text, key),
                    format!("profile.{key}"),
                    message,
                )),
            }
        }
        let mut policy_problems = raw.policy.check();
        for p in &profiles {
            policy_problems.extend(raw.policy.overridden_by(&p.policy).check());
        }
        for u in &upstreams {
            policy_problems.extend(raw.policy.overridden_by(&u.policy).check());
        }
        policy_problems.dedup();
        for (key, message) in policy_problems {
            let (section, last) = key.split_once('.').unwrap_or(("", key));
            let line = match find_key_line(text, last) {
                0 => find_key_line(text, &format!("[{section}]")),
                n => n,
            };
            errors.push(at(line, key.to_string(), message));
        }
        let spf = match raw.spf.validate() {
            Ok(spf) => spf,
            Err((key, message)) => {
                errors.push(at(find_key_line(text, key), format!("spf.{key}"), message));
                SpfConfig::default()
            }
        };
        if let Some(Err((key, message))) = raw.dkim.as_ref().map(DkimConfig::check) {
            let line = match find_key_line(text, key) {
                0 => find_key_line(text, "[dkim]"),
                n => n,
            };
            errors.push(at(line, format!("dkim.{key}"), message));
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            spf,
            dkim: raw.dkim,
            server: ServerConfig {
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
                    fail_limit: s.auth_fail_limit.max(1),
                    ban: s.auth_ban.0,
                },
                bare_newlines: s.bare_newlines,
                memory_budget: s.memory_budget.0,
            },
            spool: SpoolConfig { dir: raw.spool.dir },
            clients,
            profiles,
            admin: raw.admin,
            upstreams,
            policy: raw.policy,
            retry: crate::outcome::RetryPolicy {
                schedule: raw.retry.schedule.into_iter().map(|d| d.0).collect(),
                max_age: raw.retry.max_age.0,
                delay_warning: Some(raw.retry.delay_warning.0).filter(|d| !d.is_zero()),
            },
            source: path.to_path_buf(),
        })
    }

    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == name)
    }
}

/// Rules across upstreams: unique names, at least one, exactly one default when there are several.
fn check_upstream_set(
    ups: &[Upstream],
    declared: usize,
    text: &str,
    err: &mut dyn FnMut(usize, String, String),
) {
    let line = || find_key_line(text, "[[upstream]]");
    if declared == 0 {
        err(
            0,
            "upstream".into(),
            "no [[upstream]] is configured: mail would have nowhere to go".into(),
        );
        return;
    }
    for (i, u) in ups.iter().enumerate() {
        if ups[..i].iter().any(|o| o.name == u.name) {
            err(
                line(),
                "upstream.name".into(),
                format!("two upstreams are named \"{}\"", u.name),
            );
        }
    }
    for u in ups {
        if let Some(f) = &u.fallback
            && (f == &u.name || !ups.iter().any(|o| &o.name == f))
        {
            err(
                find_key_line(text, "fallback"),
                "upstream.fallback".into(),
                format!(
                    "upstream \"{}\": fallback \"{f}\" is not another configured upstream",
                    u.name
                ),
            );
        }
    }
    let defaults: Vec<&str> = ups
        .iter()
        .filter(|u| u.default)
        .map(|u| u.name.as_str())
        .collect();
    if ups.len() > 1 && defaults.len() != 1 {
        let msg = if defaults.is_empty() {
            "several upstreams are configured: mark exactly one with default = true".to_string()
        } else {
            format!(
                "only one upstream may have default = true (found: {})",
                defaults.join(", ")
            )
        };
        err(line(), "upstream.default".into(), msg);
    }
}

fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    last == "password" || last.contains("secret") || last.contains("token")
}

/// First line starting with `key` (as `key =` or a header), or 0.
fn find_key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(key)
                && (key.starts_with('[') || t[key.len()..].trim_start().starts_with('='))
        })
        .map(|i| i + 1)
        .unwrap_or(0)
}

impl Upstream {
    /// The upstream that takes mail when no rule picks another.
    pub fn pick_default(ups: &[Upstream]) -> Option<&Upstream> {
        ups.iter()
            .find(|u| u.default)
            .or_else(|| (ups.len() == 1).then(|| &ups[0]))
    }
}

#[cfg(test)]
mod tests;
