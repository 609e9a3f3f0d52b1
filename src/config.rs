//! Configuration: one typed value, built once from TOML and validated at load. Owns parsing,
//! defaults and the embedded "try it" config; never opens sockets or spool files. Errors name the
//! file, line and key ([`ConfigError`]); secrets are never printed.

mod auth;
pub mod cert;
mod checks;
mod clients;
mod cluster;
mod console;
pub mod dkim_key;
mod error;
mod graph;
pub mod hardening;
mod limits;
mod oauth2;
pub mod policy;
pub mod presets;
mod profiles;
mod raw;
mod retry;
mod secret;
mod server;
pub mod tls_identity;
mod upstream;
pub mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use auth::{DkimConfig, SpfConfig, SpfMode, SpfResult};
pub use clients::{ClientAccount, hash_password, verify_password};
pub use cluster::ClusterConfig;
pub use console::ConsoleConfig;
pub use error::{ConfigError, ConfigErrors};
pub use oauth2::Api;
pub use oauth2::{CertCredential, Flow, OAuth2Config};
pub use profiles::{Origin, Profile, ProfileMatch};
pub use upstream::{
    Credentials, GraphUpstream, ProviderLimits, Quota, QuotaWindow, Secret, SecretError,
    SmtpUpstream, Transport, Upstream,
};
pub use values::{
    AuthMode, Batch, ByteSize, ConnMode, Count, DurationValue, Egress, Network, PortSpec, Rate,
};

pub use policy::{
    BlacklistAction, BlacklistConfig, Importance, PolicyConfig, ReplyTo, RewriteConfig,
    TestModeConfig,
};

pub use retry::RetryPolicy;
pub use server::{AuthPolicy, ServerConfig, TlsFiles, TlsVersion};

use checks::{check_upstream_set, find_key_line, is_secret_key};
use error::Locator;
use raw::RawConfig;

/// The embedded default: listen on 127.0.0.1:2525 and write every message into `outbox/`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../conf/default.toml");

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub spool: SpoolConfig,
    pub admin: AdminConfig,
    /// `[cluster]`: provider limits shared with other relays through Redis; `None`: alone.
    pub cluster: Option<ClusterConfig>,
    /// `[console]`: the operator console in a browser; `None`: off.
    pub console: Option<ConsoleConfig>,
    /// `[[client]]` accounts that may log in to the relay.
    pub clients: Vec<ClientAccount>,
    /// `[[profile]]`s, in file order: the first that matches a message applies.
    pub profiles: Vec<Profile>,
    pub upstreams: Vec<Upstream>,
    /// Global policy sections; an upstream may override each of them.
    pub policy: PolicyConfig,
    pub retry: RetryPolicy,
    /// `[spf]`: the sender-domain check before relaying.
    pub spf: SpfConfig,
    /// `[dkim]`: signing for every upstream without its own `[upstream.dkim]`.
    pub dkim: Option<DkimConfig>,
    /// Where the config was read from, for messages; `<embedded default>` otherwise.
    pub source: PathBuf,
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

/// An upstream with provider limits: its name, its limits, its preset's name.
pub type LimitedUpstream<'a> = (&'a str, ProviderLimits, Option<&'static str>);

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
                Transport::Graph(_) | Transport::File { .. } => None,
            })
            .filter(|(n, _)| name.is_none_or(|want| want == *n))
            .collect();
        if found.is_empty() {
            let known: Vec<&str> = self.upstreams.iter().map(|u| u.name.as_str()).collect();
            return Err(known.join(", "));
        }
        Ok(found)
    }

    /// The upstreams with provider limits (SMTP and Graph), all or only the one named; the names
    /// of every upstream when none matches.
    pub fn limited_upstreams(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<LimitedUpstream<'_>>, String> {
        let found: Vec<_> = self
            .upstreams
            .iter()
            .filter(|u| name.is_none_or(|want| want == u.name))
            .filter_map(|u| Some((u.name.as_str(), u.transport.limits()?, u.transport.preset())))
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
                Transport::Graph(_) | Transport::File { .. } => false,
            })
            .map(|u| u.name.as_str())
            .collect()
    }

    /// A warning when the file is readable by every local user and holds a password.
    pub fn exposed_secrets_warning(&self) -> Option<String> {
        let names = self.inline_secrets();
        if names.is_empty() {
            return None;
        }
        world_readable(&self.source)?.then(|| {
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

        let upstreams = upstreams(
            raw.upstream,
            raw.upstreams_declared,
            text,
            &loc,
            &mut |l, k, m| errors.push(at(l, k, m)),
        );
        let server = raw
            .server
            .validate(text, &mut |line, key, msg| errors.push(at(line, key, msg)));
        if raw.retry.schedule.is_empty() {
            errors.push(at(
                find_key_line(text, "schedule"),
                "retry.schedule".into(),
                "give at least one interval".into(),
            ));
        }
        let mut err = |line, key, msg| errors.push(at(line, key, msg));
        let clients = checks::clients(raw.client, text, &mut err);
        // With accounts, every login is checked: "any login" is for a relay without them.
        let mut server = server;
        server.auth.accept_any &= clients.is_empty();
        let any = server.auth.accept_any;
        let profiles = checks::profiles(raw.profile, &upstreams, &clients, any, text, &mut err);
        checks::policies(&raw.policy, &profiles, &upstreams, text, &mut err);
        let spf = checks::section(raw.spf.validate(), "spf", text, &mut err).unwrap_or_default();
        if let Some(Err((key, message))) = raw.dkim.as_ref().map(DkimConfig::check) {
            let line = match find_key_line(text, key) {
                0 => find_key_line(text, "[dkim]"),
                n => n,
            };
            err(line, format!("dkim.{key}"), message);
        }
        let cluster = raw
            .cluster
            .and_then(|c| checks::section(c.validate(&server.hostname), "cluster", text, &mut err));
        let console = checks::section(
            raw.console.validate(server.tls.is_some()),
            "console",
            text,
            &mut err,
        )
        .flatten();
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            spf,
            dkim: raw.dkim,
            server,
            spool: SpoolConfig { dir: raw.spool.dir },
            clients,
            profiles,
            admin: raw.admin,
            cluster,
            console,
            upstreams,
            policy: raw.policy,
            retry: raw.retry.policy(),
            source: path.to_path_buf(),
        })
    }

    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == name)
    }
}

/// The `[[upstream]]` sections that are valid, and the rules across them.
fn upstreams(
    raw: Vec<toml::Spanned<upstream::RawUpstream>>,
    declared: usize,
    text: &str,
    loc: &Locator,
    err: &mut dyn FnMut(usize, String, String),
) -> Vec<Upstream> {
    let mut upstreams = Vec::new();
    for spanned in raw {
        let start = spanned.span().start;
        let raw_up = spanned.into_inner();
        let name = raw_up.name.clone();
        match raw_up.validate() {
            Ok(u) => upstreams.push(u),
            Err(p) => err(
                loc.key_line_in(start, p.key),
                format!("upstream.{}", p.key),
                format!("upstream \"{name}\": {}", p.message),
            ),
        }
    }
    check_upstream_set(&upstreams, declared, text, err);
    upstreams
}

impl Upstream {
    /// The upstream that takes mail when no rule picks another.
    pub fn pick_default(ups: &[Upstream]) -> Option<&Upstream> {
        ups.iter()
            .find(|u| u.default)
            .or_else(|| (ups.len() == 1).then(|| &ups[0]))
    }
}

/// Whether every local user may read `path` (Unix mode bits). Windows: not known (`None`); there
/// the file takes the ACL of %ProgramData%\smarthost (SYSTEM and Administrators).
fn world_readable(path: &Path) -> Option<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        Some(mode & 0o004 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests;
