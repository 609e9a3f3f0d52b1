//! `[spf]` and `[dkim]` (global, and `[upstream.dkim]`): how the sender domain is checked before
//! relaying and how mail is signed. Parsed and checked once here, the DKIM key file included, so a
//! bad key is a config error with its line; the DNS work lives in `crate::spf`, the signing in
//! `crate::dkim`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::values::DurationValue;

/// What to do when the sender domain does not authorize the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfMode {
    Off,
    /// Log, and add an `X-Smarthost-SPF:` header; relay anyway.
    #[default]
    Warn,
    /// Refuse the message with `550 5.7.23` (the results in `reject_on`).
    Reject,
}

/// An RFC 7208 result, as written in the config and in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl SpfResult {
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::Neutral => "neutral",
            SpfResult::None => "none",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

impl std::fmt::Display for SpfResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpfConfig {
    pub mode: SpfMode,
    /// Results refused in reject mode; the others are relayed with the header.
    pub reject_on: Vec<SpfResult>,
    /// DNS servers to ask instead of the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
    /// Budget for one evaluation, every lookup included; past it the result is `temperror`.
    pub timeout: Duration,
}

impl Default for SpfConfig {
    fn default() -> Self {
        RawSpf::default().validate().expect("defaults are valid")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpf {
    #[serde(default)]
    mode: SpfMode,
    #[serde(default = "default_reject_on")]
    reject_on: Vec<SpfResult>,
    #[serde(default)]
    dns_servers: Vec<SocketAddr>,
    #[serde(default = "default_timeout")]
    timeout: DurationValue,
}

impl Default for RawSpf {
    fn default() -> Self {
        RawSpf {
            mode: SpfMode::default(),
            reject_on: default_reject_on(),
            dns_servers: Vec::new(),
            timeout: default_timeout(),
        }
    }
}

fn default_reject_on() -> Vec<SpfResult> {
    vec![SpfResult::Fail, SpfResult::PermError]
}

fn default_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(10))
}

impl RawSpf {
    /// `Err((key, message))` for a value that cannot work.
    pub(crate) fn validate(self) -> Result<SpfConfig, (&'static str, String)> {
        if let Some(r) = self
            .reject_on
            .iter()
            .find(|r| matches!(r, SpfResult::Pass | SpfResult::TempError))
        {
            return Err((
                "reject_on",
                format!(
                    "`{r}` cannot be refused: pass is what every domain should get, and a DNS \
                     temperror is always answered 451 (try later) in reject mode"
                ),
            ));
        }
        if self.timeout.0.is_zero() {
            return Err(("timeout", "the SPF timeout must be more than 0".into()));
        }
        Ok(SpfConfig {
            mode: self.mode,
            reject_on: self.reject_on,
            dns_servers: self.dns_servers,
            timeout: self.timeout.0,
        })
    }
}

/// `[dkim]` or `[upstream.dkim]`: sign mail whose From: is in `domain` (or below it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    pub domain: String,
    pub selector: String,
    /// PEM private key: RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8), as `smarthost dkim keygen`
    /// writes it.
    pub key_file: PathBuf,
}

impl DkimConfig {
    /// `Err((key, message))` when the section cannot sign.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !self.domain.split('.').all(label_ok) || !self.domain.contains('.') {
            return Err(("domain", format!("`{}` is not a domain name", self.domain)));
        }
        if !self.selector.split('.').all(label_ok) {
            return Err((
                "selector",
                format!(
                    "`{}` is not a DKIM selector (letters, digits, '-')",
                    self.selector
                ),
            ));
        }
        super::dkim_key::Key::load(&self.key_file)
            .map(|_| ())
            .map_err(|e| ("key_file", e.to_string()))
    }
}
