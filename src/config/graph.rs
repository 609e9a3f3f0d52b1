//! `kind = "graph"`: an upstream that hands mail to Microsoft Graph (`sendMail`) instead of
//! SMTP, for Office 365 tenants where SMTP AUTH is off. Checked here: the service root, the
//! mailbox to send as, the OAuth2 grant (required: Graph takes only tokens) and the provider's
//! limits. The HTTP work is `crate::graph`'s.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{KeyProblem, problem};
use super::limits::{self, ProviderLimits, RawLimits};
use super::oauth2::{Api, OAuth2Config, RawOAuth2};
use super::presets::Preset;
use super::values::{Egress, PortSpec};

/// Each HTTP request when `timeout` is not set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Microsoft Graph's global service root.
pub const GRAPH_URL: &str = "https://graph.microsoft.com";

#[derive(Debug, Clone)]
pub struct GraphUpstream {
    /// The service root, without a trailing slash (national clouds, or a stand-in in tests).
    pub graph_url: String,
    /// Send as this mailbox; `None`: as the envelope sender.
    pub mailbox: Option<String>,
    pub oauth2: OAuth2Config,
    /// Extra trust anchor besides the system roots (a local stand-in in tests).
    pub ca_file: Option<PathBuf>,
    /// Limit on each HTTP request.
    pub timeout: Duration,
    pub limits: ProviderLimits,
    pub preset: Option<&'static str>,
    /// Where its mail leaves from, for the SPF pre-flight (Microsoft's include).
    pub egress: Egress,
}

/// The keys of an `[[upstream]]` a Graph upstream reads.
pub(crate) struct GraphKeys<'a> {
    pub graph_url: Option<&'a str>,
    pub mailbox: Option<&'a str>,
    pub oauth2: Option<&'a RawOAuth2>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub limits: Option<RawLimits>,
    pub preset: Option<&'static Preset>,
    pub egress: Egress,
    /// Keys that mean SMTP and have no sense here, by name, when set.
    pub smtp_only: Vec<&'static str>,
}

pub(crate) fn validate(k: GraphKeys<'_>) -> Result<GraphUpstream, KeyProblem> {
    if let Some(key) = k.smtp_only.first() {
        return Err(problem(
            key,
            format!("{key} is for SMTP upstreams; a Graph upstream logs in with [upstream.oauth2]"),
        ));
    }
    let graph_url = service_root(k.graph_url.unwrap_or(GRAPH_URL))?;
    let mailbox = match k.mailbox.map(str::trim) {
        Some(m) if !is_mailbox(m) => {
            return Err(problem(
                "mailbox",
                format!("`{m}` is not a mailbox address"),
            ));
        }
        m => m.map(str::to_string),
    };
    let raw = k.oauth2.ok_or_else(|| {
        problem(
            "oauth2",
            "a Graph upstream needs [upstream.oauth2] (an app with the Mail.Send permission)",
        )
    })?;
    let oauth2 = raw
        .validate(k.preset.map(|p| p.name), Api::Graph)
        .map_err(|(key, message)| KeyProblem {
            key,
            message: format!("[upstream.oauth2] {message}"),
        })?;
    let limits = limits::resolve(k.limits, k.preset, &PortSpec::default())?;
    Ok(GraphUpstream {
        graph_url,
        mailbox,
        oauth2,
        ca_file: k.ca_file,
        timeout: k.timeout.unwrap_or(DEFAULT_TIMEOUT),
        limits,
        preset: k.preset.map(|p| p.name),
        egress: k.egress,
    })
}

/// `https://host[:port][/path]`, or `http://` to this machine only; no query, no fragment.
fn service_root(url: &str) -> Result<String, KeyProblem> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://").filter(|r| is_loopback(r)));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(['?', '#', ' ', '@']) => Ok(url.to_string()),
        _ => Err(problem(
            "graph_url",
            format!("`{url}` must be an https:// address (http:// only to localhost)"),
        )),
    }
}

fn is_loopback(rest: &str) -> bool {
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

/// An address Graph can name in a URL: one `@`, no spaces, slashes or control characters.
fn is_mailbox(m: &str) -> bool {
    let Some((local, domain)) = m.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !m[local.len() + 1..].contains('@')
        && !m.contains(|c: char| c.is_whitespace() || c.is_control() || "/\\?#%".contains(c))
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, Transport};
    use std::path::Path;

    const OAUTH: &str = "[upstream.oauth2]\nflow = \"client_credentials\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"app\"\nclient_secret_env = \"S\"\n";

    fn load(upstream: &str) -> Result<Config, Vec<ConfigError>> {
        Config::load(
            &format!("[[upstream]]\nname = \"m365\"\n{upstream}"),
            Path::new("t.toml"),
        )
        .map_err(|e| e.0)
    }

    #[test]
    fn the_graph_preset_makes_a_graph_upstream_with_the_graph_scope_and_exchange_limits() {
        let c = load(&format!(
            "preset = \"office365-graph\"\nmailbox = \"pay@contoso.test\"\n{OAUTH}"
        ))
        .unwrap();
        let Transport::Graph(g) = &c.upstreams[0].transport else {
            panic!("not a Graph upstream");
        };
        assert_eq!(g.graph_url, "https://graph.microsoft.com");
        assert_eq!(g.oauth2.scope, "https://graph.microsoft.com/.default");
        assert_eq!(g.limits.max_connections, 3);
        assert_eq!(g.limits.max_recipients_per_message, Some(500));
        assert_eq!(g.mailbox.as_deref(), Some("pay@contoso.test"));
    }

    #[test]
    fn a_graph_upstream_without_oauth2_is_an_error_naming_the_key() {
        let e = load("kind = \"graph\"\n").unwrap_err();
        assert_eq!(e[0].key, "upstream.oauth2", "{}", e[0]);
        assert!(e[0].message.contains("Mail.Send"), "{}", e[0]);
    }

    #[test]
    fn smtp_keys_on_a_graph_upstream_are_an_error() {
        let e = load(&format!("kind = \"graph\"\npassword = \"x\"\n{OAUTH}")).unwrap_err();
        assert_eq!(e[0].key, "upstream.password", "{}", e[0]);
    }

    #[test]
    fn a_graph_url_in_clear_text_beyond_this_machine_is_refused() {
        let e = load(&format!(
            "kind = \"graph\"\ngraph_url = \"http://graph.example\"\n{OAUTH}"
        ))
        .unwrap_err();
        assert_eq!(e[0].key, "upstream.graph_url", "{}", e[0]);
        assert!(
            load(&format!(
                "kind = \"graph\"\ngraph_url = \"http://127.0.0.1:9/\"\n{OAUTH}"
            ))
            .is_ok()
        );
    }

    #[test]
    fn a_mailbox_that_could_change_the_request_path_is_refused() {
        let e = load(&format!(
            "kind = \"graph\"\nmailbox = \"a@b.test/../x\"\n{OAUTH}"
        ))
        .unwrap_err();
        assert_eq!(e[0].key, "upstream.mailbox", "{}", e[0]);
    }

    #[test]
    fn the_graph_preset_on_an_smtp_upstream_is_an_error() {
        let e = load(&format!(
            "preset = \"office365-graph\"\nkind = \"smtp\"\n{OAUTH}"
        ))
        .unwrap_err();
        assert_eq!(e[0].key, "upstream.kind", "{}", e[0]);
    }
}
