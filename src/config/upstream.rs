//! `[[upstream]]` sections: where mail goes. Turns the raw TOML table into an [`Upstream`] whose
//! transport is either SMTP (host, port, CONN, AUTH, credentials) or a local directory. Secrets
//! are kept as *where to find them*, read only when a connection needs them, and never printed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::auth::DkimConfig;
use super::error::{KeyProblem, problem};
use super::graph::GraphKeys;
pub use super::graph::GraphUpstream;
use super::limits::{self, RawLimits};
pub use super::limits::{ProviderLimits, Quota, QuotaWindow};
use super::oauth2::{Api, OAuth2Config, RawOAuth2};
use super::policy::{BlacklistConfig, RewriteConfig, TestModeConfig, UpstreamPolicy};
use super::presets::{self, Preset};
pub use super::secret::{Secret, SecretError};
use super::tls_identity::{self, OneOrMany, TlsIdentity};
use super::values::{
    AuthMode, Batch, ConnMode, DurationValue, Egress, Network, PortSpec, Rate, parse_notify,
};
use crate::envelope::Notify;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstream {
    pub name: String,
    #[serde(default)]
    pub kind: Option<String>,
    /// A provider's host, port, modes and limits in one word; explicit keys win.
    pub preset: Option<String>,
    pub host: Option<String>,
    pub port: Option<PortSpec>,
    pub conn: Option<ConnMode>,
    pub auth: Option<AuthMode>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub tls_fingerprint: Option<OneOrMany>,
    pub tls_client_cert: Option<PathBuf>,
    pub tls_client_key: Option<PathBuf>,
    #[serde(default)]
    pub default: bool,
    pub dir: Option<PathBuf>,
    /// Graph: send as this mailbox (default: the envelope sender).
    pub mailbox: Option<String>,
    /// Graph: the service root (national clouds; a local stand-in in tests).
    pub graph_url: Option<String>,
    pub helo_name: Option<String>,
    pub timeout: Option<DurationValue>,
    /// Envelope senders routed here: full addresses or domains.
    #[serde(default)]
    pub senders: Vec<String>,
    /// DSN NOTIFY for recipients that came without one, e.g. "FAILURE,DELAY" or "NEVER".
    pub notify: Option<String>,
    /// Upstream to use while this one is unreachable.
    pub fallback: Option<String>,
    /// The provider account whose limits this upstream spends (`[cluster]`): upstreams with the
    /// same account share them; default: the upstream's name.
    pub account: Option<String>,
    pub limits: Option<RawLimits>,
    /// Addresses (or networks) this upstream sends from, for the SPF pre-flight.
    #[serde(default)]
    pub spf_ips: Vec<Network>,
    /// The provider's SPF include (e.g. `spf.protection.outlook.com`); presets set it.
    pub spf_include: Option<String>,
    pub dkim: Option<DkimConfig>,
    pub oauth2: Option<RawOAuth2>,
    pub blacklist: Option<BlacklistConfig>,
    pub test_mode: Option<TestModeConfig>,
    pub rewrite: Option<RewriteConfig>,
}

/// One configured upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub default: bool,
    /// Envelope senders this upstream carries (lower-case; a domain or a full address).
    pub senders: Vec<String>,
    pub policy: UpstreamPolicy,
    /// Used while this upstream cannot be reached (never when it refuses a recipient).
    pub fallback: Option<String>,
    /// Whose provider limits it spends: shared by every upstream (and every relay of a
    /// `[cluster]`) with the same account.
    pub account: String,
    /// `[upstream.dkim]`: this upstream's own signing identity.
    pub dkim: Option<DkimConfig>,
    pub transport: Transport,
}

// A handful of upstreams are built once at load: the size of the SMTP variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Transport {
    Smtp(SmtpUpstream),
    /// Microsoft Graph `sendMail` (Office 365 without SMTP AUTH).
    Graph(GraphUpstream),
    /// Writes each message as a `.eml` file into `dir`; sends nothing (the "try it" default).
    File {
        dir: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct SmtpUpstream {
    pub host: String,
    pub port: u16,
    pub conn: ConnMode,
    pub auth: AuthMode,
    pub credentials: Option<Credentials>,
    /// Extra trust anchor besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Pinned server certificates and the client certificate.
    pub tls: TlsIdentity,
    /// Name sent in EHLO; the server hostname when unset.
    pub helo_name: Option<String>,
    /// Limit on each step of a conversation (connect, one reply, TLS handshake).
    pub timeout: Duration,
    pub batch: Option<Batch>,
    /// NOTIFY sent for recipients whose client gave none (only to a DSN-capable upstream).
    pub default_notify: Option<Notify>,
    /// Concurrent connections at most.
    pub max_connections: usize,
    /// Recipients per transaction at most; a message with more goes out as several.
    pub max_recipients_per_message: Option<usize>,
    pub rate: Option<Rate>,
    /// Hour/day/week quotas; `None` when none is set.
    pub quota: Option<Quota>,
    /// The preset this upstream was built from, if any.
    pub preset: Option<&'static str>,
    /// Where its mail leaves from, for the SPF pre-flight.
    pub egress: Egress,
    /// `[upstream.oauth2]`: tokens for XOAUTH2/OAUTHBEARER come from this grant.
    pub oauth2: Option<OAuth2Config>,
}

impl Transport {
    /// The provider limits this upstream is paced by; `None` for the file target.
    pub fn limits(&self) -> Option<ProviderLimits> {
        match self {
            Transport::Smtp(s) => Some(s.limits()),
            Transport::Graph(g) => Some(g.limits.clone()),
            Transport::File { .. } => None,
        }
    }

    /// The preset the upstream was built from, if any.
    pub fn preset(&self) -> Option<&'static str> {
        match self {
            Transport::Smtp(s) => s.preset,
            Transport::Graph(g) => g.preset,
            Transport::File { .. } => None,
        }
    }
}

impl SmtpUpstream {
    /// What the throttle paces this upstream by.
    pub fn limits(&self) -> ProviderLimits {
        ProviderLimits {
            max_connections: self.max_connections,
            max_recipients_per_message: self.max_recipients_per_message,
            rate: self.rate,
            batch: self.batch,
            quota: self.quota.clone(),
        }
    }
}

/// A username and where its secret lives.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &self.secret)
            .finish()
    }
}

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl RawUpstream {
    pub fn validate(self) -> Result<Upstream, KeyProblem> {
        if self.name.trim().is_empty() {
            return Err(problem("name", "an upstream needs a non-empty name"));
        }
        let transport = match self.kind()? {
            "smtp" => Transport::Smtp(self.smtp()?),
            "graph" => Transport::Graph(self.graph()?),
            "file" => {
                let dir = self
                    .dir
                    .clone()
                    .ok_or_else(|| problem("dir", "kind = \"file\" needs dir = \"...\""))?;
                Transport::File { dir }
            }
            other => {
                return Err(problem(
                    "kind",
                    format!("unknown kind `{other}` (expected smtp, graph or file)"),
                ));
            }
        };
        for s in &self.senders {
            if s.trim().is_empty() || s.contains(char::is_whitespace) {
                return Err(problem(
                    "senders",
                    format!("`{s}` is not an address or a domain"),
                ));
            }
        }
        let account = self.account.clone().unwrap_or_else(|| self.name.clone());
        Ok(Upstream {
            name: self.name,
            default: self.default,
            senders: self
                .senders
                .iter()
                .map(|s| s.trim_start_matches('@').to_lowercase())
                .collect(),
            fallback: self.fallback.clone(),
            account,
            dkim: self.dkim.clone(),
            policy: UpstreamPolicy {
                blacklist: self.blacklist,
                test_mode: self.test_mode,
                rewrite: self.rewrite,
            },
            transport,
        })
    }

    fn graph(&self) -> Result<GraphUpstream, KeyProblem> {
        let set = [
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("conn", self.conn.is_some()),
            ("auth", self.auth.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("password_env", self.password_env.is_some()),
            ("password_file", self.password_file.is_some()),
            ("helo_name", self.helo_name.is_some()),
            ("tls_fingerprint", self.tls_fingerprint.is_some()),
            ("tls_client_cert", self.tls_client_cert.is_some()),
        ];
        super::graph::validate(GraphKeys {
            graph_url: self.graph_url.as_deref(),
            mailbox: self.mailbox.as_deref(),
            oauth2: self.oauth2.as_ref(),
            ca_file: self.ca_file.clone(),
            timeout: self.timeout.map(|d| d.0),
            limits: self.limits.clone(),
            preset: self.preset()?,
            egress: self.egress(self.preset()?)?,
            smtp_only: set.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect(),
        })
    }

    /// `kind`, or what the preset implies (`office365-graph` is a Graph upstream).
    fn kind(&self) -> Result<&str, KeyProblem> {
        let implied = self.preset()?.map(|p| p.kind).unwrap_or("smtp");
        match self.kind.as_deref() {
            None => Ok(implied),
            Some(k) if self.preset.is_some() && k != implied => Err(problem(
                "kind",
                format!(
                    "preset `{}` is for kind = \"{implied}\", not \"{k}\"",
                    self.preset.as_deref().unwrap_or_default()
                ),
            )),
            Some(k) => Ok(k),
        }
    }

    pub(super) fn preset(&self) -> Result<Option<&'static Preset>, KeyProblem> {
        match &self.preset {
            None => Ok(None),
            Some(name) => presets::find(name).map(Some).ok_or_else(|| {
                problem(
                    "preset",
                    format!("unknown preset `{name}` (known: {})", presets::names()),
                )
            }),
        }
    }

    fn smtp(&self) -> Result<SmtpUpstream, KeyProblem> {
        let preset = self.preset()?;
        let host = tls_identity::host(self.host.as_deref(), preset)?;
        let spec = self.port.clone().unwrap_or_default();
        let conn = merge("conn", self.conn, spec.conn)?
            .or(preset.map(|p| p.conn))
            .unwrap_or_default();
        tls_identity::check_conn(conn, preset)?;
        let explicit_auth = merge("auth", self.auth, spec.auth)?;
        let auth = self.auth_mode(explicit_auth, preset)?;
        let limits = limits::resolve(self.limits.clone(), preset, &spec)?;
        let egress = self.egress(preset)?;
        let port = spec.port.or(preset.map(|p| p.port)).unwrap_or(match conn {
            ConnMode::SslTls => 465,
            ConnMode::StartTls => 587,
            _ => 25,
        });
        let credentials = self.credentials(auth)?;
        let oauth2 = match &self.oauth2 {
            Some(raw) => Some(raw.validate(preset.map(|p| p.name), Api::Smtp).map_err(
                |(key, message)| KeyProblem {
                    key,
                    message: format!("[upstream.oauth2] {message}"),
                },
            )?),
            None => None,
        };
        let default_notify = match &self.notify {
            Some(n) => Some(parse_notify(n).ok_or_else(|| {
                problem(
                    "notify",
                    format!("`{n}` is not NEVER or a list of SUCCESS, FAILURE, DELAY"),
                )
            })?),
            None => None,
        };
        if let Some(Err((key, message))) = self.dkim.as_ref().map(DkimConfig::check) {
            return Err(KeyProblem {
                key,
                message: format!("[upstream.dkim] {message}"),
            });
        }
        Ok(SmtpUpstream {
            oauth2,
            egress,
            quota: limits.quota,
            preset: preset.map(|p| p.name),
            max_connections: limits.max_connections,
            max_recipients_per_message: limits.max_recipients_per_message,
            rate: limits.rate,
            default_notify,
            host,
            port,
            conn,
            auth,
            credentials,
            ca_file: self.ca_file.clone(),
            tls: tls_identity::resolve(
                self.tls_client_cert.as_ref(),
                self.tls_client_key.as_ref(),
                self.tls_fingerprint.as_ref(),
            )?,
            helo_name: self.helo_name.clone(),
            timeout: self.timeout.map(|d| d.0).unwrap_or(DEFAULT_TIMEOUT),
            batch: limits.batch,
        })
    }

    /// With an OAuth2 grant the preset's password mechanism no longer applies: auto picks
    /// XOAUTH2 (or OAUTHBEARER) from what the server offers.
    fn auth_mode(
        &self,
        explicit: Option<AuthMode>,
        preset: Option<&Preset>,
    ) -> Result<AuthMode, KeyProblem> {
        Ok(match (&self.oauth2, explicit) {
            (Some(_), None) => AuthMode::Auto,
            (Some(_), Some(m))
                if !matches!(
                    m,
                    AuthMode::Auto | AuthMode::Xoauth2 | AuthMode::OAuthBearer
                ) =>
            {
                return Err(problem(
                    "auth",
                    format!(
                        "auth = \"{m}\" sends a password, but [upstream.oauth2] gives tokens: use auto, xoauth2 or oauthbearer"
                    ),
                ));
            }
            (_, m) => m.or(preset.map(|p| p.auth)).unwrap_or_default(),
        })
    }

    /// Where this upstream sends from, for the SPF pre-flight.
    pub(super) fn egress(&self, preset: Option<&Preset>) -> Result<Egress, KeyProblem> {
        Ok(match (&self.spf_ips, &self.spf_include) {
            (ips, Some(_)) if !ips.is_empty() => {
                return Err(problem(
                    "spf_include",
                    "set spf_ips or spf_include, not both: they say the same thing two ways",
                ));
            }
            (ips, None) if !ips.is_empty() => Egress::Addresses(ips.clone()),
            (_, Some(inc)) => {
                let inc = inc
                    .trim()
                    .trim_start_matches("include:")
                    .to_ascii_lowercase();
                if inc.is_empty() || inc.contains(char::is_whitespace) {
                    return Err(problem(
                        "spf_include",
                        format!("`{inc}` is not a domain name"),
                    ));
                }
                Egress::Include(inc)
            }
            _ => match preset.and_then(|p| p.spf_include) {
                Some(inc) => Egress::Include(inc.to_string()),
                None => Egress::Host,
            },
        })
    }

    fn credentials(&self, auth: AuthMode) -> Result<Option<Credentials>, KeyProblem> {
        let sources = [
            self.password.is_some(),
            self.password_env.is_some(),
            self.password_file.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err(problem(
                "password",
                "set only one of password, password_env and password_file",
            ));
        }
        if self.oauth2.is_some() {
            if sources.iter().any(|s| *s) {
                return Err(problem(
                    "password",
                    "with [upstream.oauth2] the token replaces the password: remove password, password_env and password_file",
                ));
            }
            let username = self.username.clone().ok_or_else(|| {
                problem(
                    "username",
                    "[upstream.oauth2] needs username = the mailbox the mail is sent as",
                )
            })?;
            return Ok(Some(Credentials {
                username,
                secret: Secret::OAuth2,
            }));
        }
        let secret = if let Some(p) = &self.password {
            Some(Secret::Inline(p.clone()))
        } else if let Some(v) = &self.password_env {
            Some(Secret::Env(v.clone()))
        } else {
            self.password_file.clone().map(Secret::File)
        };
        match (self.username.clone(), secret, auth) {
            (_, _, AuthMode::None) => Ok(None),
            (Some(username), Some(secret), _) => Ok(Some(Credentials { username, secret })),
            (None, Some(_), _) => Err(problem("username", "a password is set but no username")),
            (Some(_), None, _) => Err(problem(
                "password",
                "a username is set but no password, password_env or password_file",
            )),
            (None, None, AuthMode::Auto) => Ok(None),
            (None, None, mode) => Err(problem(
                "auth",
                format!("auth = \"{mode}\" needs username and a password source"),
            )),
        }
    }
}

/// The key and the port string may both give a mode; they must agree.
fn merge<T: PartialEq + fmt::Display + Copy>(
    key: &'static str,
    from_key: Option<T>,
    from_port: Option<T>,
) -> Result<Option<T>, KeyProblem> {
    match (from_key, from_port) {
        (Some(a), Some(b)) if a != b => Err(problem(
            key,
            format!(
                "{key} = \"{a}\" contradicts {}:{b} in the port string",
                key.to_uppercase()
            ),
        )),
        (a, b) => Ok(a.or(b)),
    }
}
