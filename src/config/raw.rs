//! The file's sections, each read on its own so that one bad section does not hide the mistakes
//! in the others. Only shapes and types here; meaning is checked by `Config::load`.

use std::path::PathBuf;

use serde::Deserialize;

use super::AdminConfig;
use super::auth::{self, DkimConfig};
use super::clients;
use super::cluster::RawCluster;
use super::console::RawConsole;
use super::policy::{BlacklistConfig, PolicyConfig, RewriteConfig, TestModeConfig};
use super::profiles;
use super::retry::RawRetry;
use super::server::RawServer;
use super::upstream::RawUpstream;

#[derive(Debug)]
pub(super) struct RawConfig {
    pub server: RawServer,
    pub spool: RawSpool,
    pub retry: RawRetry,
    pub admin: AdminConfig,
    pub cluster: Option<RawCluster>,
    pub console: RawConsole,
    pub spf: auth::RawSpf,
    pub dkim: Option<DkimConfig>,
    pub client: Vec<clients::RawClient>,
    pub profile: Vec<profiles::RawProfile>,
    pub policy: PolicyConfig,
    pub upstream: Vec<toml::Spanned<RawUpstream>>,
    /// `[[upstream]]` tables in the file, including those that failed to deserialise.
    pub upstreams_declared: usize,
}

impl RawConfig {
    /// A syntax error is returned (nothing else can be read); after that each section, and each
    /// `[[upstream]]`, is deserialised on its own and its error passed to `error`, so one bad
    /// section does not hide the mistakes in the others. A bad section keeps its defaults.
    pub(super) fn parse(
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
            cluster: None,
            console: RawConsole::default(),
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
                "console" => match RawConsole::deserialize(ValueDeserializer::from(value)) {
                    Ok(c) => raw.console = c,
                    Err(e) => error(e.span(), e.message()),
                },
                "cluster" => match RawCluster::deserialize(ValueDeserializer::from(value)) {
                    Ok(c) => raw.cluster = Some(c),
                    Err(e) => error(e.span(), e.message()),
                },
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
                        "unknown section `{other}`, expected one of `server`, `spool`, `retry`, `admin`, `cluster`, `console`, `spf`, `dkim`, `client`, `profile`, `blacklist`, `test_mode`, `rewrite`, `upstream`"
                    ),
                ),
            }
        }
        Ok(raw)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpool {
    #[serde(default = "default_spool_dir")]
    pub dir: PathBuf,
}

impl Default for RawSpool {
    fn default() -> Self {
        RawSpool {
            dir: default_spool_dir(),
        }
    }
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("spool")
}
