//! Small typed values parsed from config strings: sizes, durations, CONN/AUTH modes, the
//! Cresus-style port string and network ranges. Each is parsed once, at load; the rest of the
//! relay only ever sees the typed value.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// How the connection to an upstream is secured (Cresus' `CONN:` word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnMode {
    /// Implicit TLS on 465 or on a port that sends no greeting; else STARTTLS when offered;
    /// else plaintext, but then never with credentials.
    #[default]
    Auto,
    /// Never TLS. The only mode in which credentials may cross the wire in clear.
    Plaintext,
    /// Implicit TLS from the first byte (SMTPS, usually port 465).
    SslTls,
    /// STARTTLS is required: a server that does not offer it gets no mail.
    StartTls,
}

/// Which SASL mechanism the relay uses upstream (Cresus' `AUTH:` word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// The strongest mechanism both sides support; none when the server offers no AUTH.
    #[default]
    Auto,
    None,
    Plain,
    Login,
    CramMd5,
    Ntlm,
    Xoauth2,
    /// RFC 7628 OAUTHBEARER.
    OAuthBearer,
}

fn normalise(word: &str) -> String {
    word.trim().to_ascii_lowercase().replace('-', "_")
}

impl FromStr for ConnMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match normalise(s).as_str() {
            "auto" => Self::Auto,
            "plaintext" | "plain" | "none" => Self::Plaintext,
            "ssl_tls" | "ssl" | "tls" | "smtps" | "implicit_tls" => Self::SslTls,
            "starttls" => Self::StartTls,
            _ => {
                return Err(format!(
                    "unknown CONN mode `{s}` (expected auto, plaintext, ssl_tls or starttls)"
                ));
            }
        })
    }
}

impl FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match normalise(s).as_str() {
            "auto" => Self::Auto,
            "none" => Self::None,
            "plain" => Self::Plain,
            "login" => Self::Login,
            "cram_md5" => Self::CramMd5,
            "ntlm" => Self::Ntlm,
            "xoauth2" => Self::Xoauth2,
            "oauthbearer" => Self::OAuthBearer,
            _ => {
                return Err(format!(
                    "unknown AUTH mode `{s}` (expected auto, none, plain, login, cram_md5, ntlm, xoauth2 or oauthbearer)"
                ));
            }
        })
    }
}

impl fmt::Display for ConnMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Plaintext => "plaintext",
            Self::SslTls => "ssl_tls",
            Self::StartTls => "starttls",
        })
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::None => "none",
            Self::Plain => "plain",
            Self::Login => "login",
            Self::CramMd5 => "cram_md5",
            Self::Ntlm => "ntlm",
            Self::Xoauth2 => "xoauth2",
            Self::OAuthBearer => "oauthbearer",
        })
    }
}

/// Send `size` messages, then pause `wait` (Cresus' `LIMITE:12 WAIT:15.5`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Batch {
    pub size: u32,
    pub wait: Duration,
}

/// The port key: a number, or the Cresus-style string `"587 AUTH:LOGIN CONN:STARTTLS"`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PortSpec {
    pub port: Option<u16>,
    pub conn: Option<ConnMode>,
    pub auth: Option<AuthMode>,
    pub batch_size: Option<u32>,
    pub batch_wait: Option<Duration>,
}

impl FromStr for PortSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut spec = PortSpec::default();
        for word in s.split_whitespace() {
            let (name, value) = match word.split_once(':') {
                Some((n, v)) => (n.to_ascii_uppercase(), v),
                None => {
                    let port = word
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("`{word}` is not a port number (1-65535)"))?;
                    if spec.port.replace(port).is_some() {
                        return Err(format!("two port numbers in `{s}`"));
                    }
                    continue;
                }
            };
            match name.as_str() {
                "AUTH" => spec.auth = Some(value.parse()?),
                "CONN" => spec.conn = Some(value.parse()?),
                "LIMITE" | "LIMIT" => {
                    spec.batch_size =
                        Some(value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            format!("`{word}`: LIMITE takes a whole number of messages")
                        })?)
                }
                "WAIT" => {
                    let secs: f64 = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                        .ok_or_else(|| format!("`{word}`: WAIT takes seconds, e.g. WAIT:15.5"))?;
                    spec.batch_wait = Some(Duration::from_secs_f64(secs));
                }
                _ => {
                    return Err(format!(
                        "unknown word `{word}` in port string (expected a port, AUTH:, CONN:, LIMITE: or WAIT:)"
                    ));
                }
            }
        }
        Ok(spec)
    }
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = PortSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number or a string like \"587 AUTH:LOGIN CONN:STARTTLS\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortSpec, E> {
                let port = u16::try_from(v)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| E::custom(format!("{v} is not a port number (1-65535)")))?;
                Ok(PortSpec {
                    port: Some(port),
                    ..Default::default()
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortSpec, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

macro_rules! deserialize_from_str {
    ($t:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
    };
}
deserialize_from_str!(ConnMode, "CONN mode");
deserialize_from_str!(Rate, "rate");
deserialize_from_str!(AuthMode, "AUTH mode");
deserialize_from_str!(Count, "count");

/// What a quota counts (`count = "messages" | "recipients"`): Office 365 counts recipients,
/// Gmail messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Count {
    #[default]
    Messages,
    Recipients,
}

impl FromStr for Count {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match normalise(s).as_str() {
            "messages" | "message" => Ok(Count::Messages),
            "recipients" | "recipient" => Ok(Count::Recipients),
            _ => Err(format!(
                "unknown count `{s}` (expected messages or recipients)"
            )),
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Count::Messages => "messages",
            Count::Recipients => "recipients",
        })
    }
}

/// `N/s`, `N/min` or `N/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a rate (e.g. 30/min, 2/s, 500/h)");
        let (n, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        let per = match unit.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Rate { count, per })
    }
}

/// A byte count written as `35MB`, `512KiB` or `1000`. KB/MB/GB are decimal, KiB/MiB/GiB binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size (e.g. 35MB)"))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "m" | "mb" => 1e6,
            "g" | "gb" => 1e9,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            u => {
                return Err(format!(
                    "unknown size unit `{u}` in `{s}` (use B, KB, MB, GB, KiB, MiB, GiB)"
                ));
            }
        };
        Ok(ByteSize((n * mult) as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size like \"35MB\" or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("size must not be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written as `300ms`, `15.5s`, `5m`, `1h` or `5d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl FromStr for DurationValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| format!("`{s}` is not a duration (e.g. 30s, 5m, 1h, 5d)"))?;
        let secs = match unit.trim() {
            "ms" => n / 1000.0,
            "s" | "" => n,
            "m" | "min" => n * 60.0,
            "h" => n * 3600.0,
            "d" => n * 86400.0,
            "w" => n * 7.0 * 86400.0,
            u => {
                return Err(format!(
                    "unknown duration unit `{u}` in `{s}` (use ms, s, m, h, d, w)"
                ));
            }
        };
        Ok(DurationValue(Duration::from_secs_f64(secs)))
    }
}
deserialize_from_str!(DurationValue, "duration");

/// An address range like `127.0.0.0/8` or `::1/128` (a bare address means a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// The network's first address (the address itself for a single host).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length in `{s}`"))?,
        };
        Ok(Network { addr, prefix })
    }
}
deserialize_from_str!(Network, "network");

/// What a sender domain's SPF record must allow for mail carried by an upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Egress {
    /// `spf_ips`: the addresses (or networks) the upstream sends from.
    Addresses(Vec<Network>),
    /// A provider's SPF include (`spf_include`, or the preset's): its senders are the
    /// addresses that record lists.
    Include(String),
    /// Nothing configured: the addresses `host` resolves to.
    Host,
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;

/// A DSN NOTIFY list such as "FAILURE,DELAY" or "NEVER".
pub(crate) fn parse_notify(s: &str) -> Option<crate::envelope::Notify> {
    use crate::envelope::Notify;
    let words: Vec<String> = s
        .split(',')
        .map(|w| w.trim().to_ascii_uppercase())
        .collect();
    if words == ["NEVER"] {
        return Some(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for w in &words {
        match w.as_str() {
            "SUCCESS" => success = true,
            "FAILURE" => failure = true,
            "DELAY" => delay = true,
            _ => return None,
        }
    }
    Some(Notify::On {
        success,
        failure,
        delay,
    })
}
