//! `[[profile]]`: app profiles. A client account, a source network or a listener address is
//! bound to an upstream and to its own blacklist / test-mode / rewrite sections, e.g. the payroll
//! program sends as `salaires@`, through the payroll mailbox (and so under that mailbox's
//! limits). The first profile that matches a message wins.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::policy::{BlacklistConfig, RewriteConfig, TestModeConfig, UpstreamPolicy};
use super::values::Network;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matches: ProfileMatch,
    pub upstream: Option<String>,
    pub blacklist: Option<BlacklistConfig>,
    pub test_mode: Option<TestModeConfig>,
    pub rewrite: Option<RewriteConfig>,
}

/// What a profile applies to; every key given must match.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileMatch {
    /// A `[[client]]` account name.
    pub client: Option<String>,
    /// The client's address.
    pub network: Option<Network>,
    /// The listener the client connected to.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub matches: ProfileMatch,
    /// Mail of this profile goes here, whatever its sender.
    pub upstream: Option<String>,
    pub policy: UpstreamPolicy,
}

/// Who sent a message, as the session knows it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub client: Option<&'a str>,
    pub peer: IpAddr,
    pub listen: SocketAddr,
}

impl ProfileMatch {
    pub fn is_empty(&self) -> bool {
        self.client.is_none() && self.network.is_none() && self.listen.is_none()
    }

    pub fn matches(&self, o: &Origin) -> bool {
        self.client.as_deref().is_none_or(|c| o.client == Some(c))
            && self.network.as_ref().is_none_or(|n| n.contains(o.peer))
            && self.listen.is_none_or(|l| l == o.listen)
    }
}

impl RawProfile {
    pub fn validate(self, index: usize) -> Result<Profile, (&'static str, String)> {
        let name = self
            .name
            .unwrap_or_else(|| format!("profile {}", index + 1));
        if self.matches.is_empty() {
            return Err((
                "match",
                format!("{name}: match needs client, network or listen"),
            ));
        }
        Ok(Profile {
            name,
            matches: self.matches,
            upstream: self.upstream,
            policy: UpstreamPolicy {
                blacklist: self.blacklist,
                test_mode: self.test_mode,
                rewrite: self.rewrite,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin<'a>(client: Option<&'a str>, peer: &str, listen: &str) -> Origin<'a> {
        Origin {
            client,
            peer: peer.parse().unwrap(),
            listen: listen.parse().unwrap(),
        }
    }

    #[test]
    fn a_profile_matches_only_when_every_given_key_matches() {
        let m = ProfileMatch {
            client: None,
            network: Some("192.168.1.50/32".parse().unwrap()),
            listen: Some("127.0.0.1:2526".parse().unwrap()),
        };
        assert!(m.matches(&origin(None, "192.168.1.50", "127.0.0.1:2526")));
        assert!(!m.matches(&origin(None, "192.168.1.51", "127.0.0.1:2526")));
        assert!(!m.matches(&origin(None, "192.168.1.50", "127.0.0.1:2525")));
        let by_client = ProfileMatch {
            client: Some("payroll".into()),
            ..ProfileMatch::default()
        };
        assert!(by_client.matches(&origin(Some("payroll"), "10.0.0.1", "0.0.0.0:2525")));
        assert!(!by_client.matches(&origin(None, "10.0.0.1", "0.0.0.0:2525")));
    }

    #[test]
    fn a_profile_without_match_keys_is_refused() {
        let raw = RawProfile {
            name: None,
            matches: ProfileMatch::default(),
            upstream: None,
            blacklist: None,
            test_mode: None,
            rewrite: None,
        };
        assert_eq!(raw.validate(0).unwrap_err().0, "match");
    }
}
