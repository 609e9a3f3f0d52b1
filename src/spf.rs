//! SPF pre-flight (RFC 7208): before a message is queued, does the envelope sender's domain
//! authorize the upstream that will carry it? Legacy programs send as `invoices@company.ch`
//! through Office 365 or Gmail without knowing whether `company.ch` lists that provider; the
//! receivers then junk or refuse the mail days later. Here the answer comes at once, in words.
//!
//! Owns the DNS resolver (hickory), the evaluation (mail-auth's `check_host`, with `include:`,
//! `redirect=`, `a`, `mx`, `ip4/ip6`, macros and the 10-lookup limit) and a cache per (domain,
//! upstream) that lives as long as the record's TTL. Never edits a message (it hands back the
//! header to add) and never refuses one itself: [`Decision`] says what the session should answer.

mod egress;

pub use egress::txt;
mod verdict;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{MessageAuthenticator, Parameters};
use tokio::sync::OnceCell;

use crate::config::{Config, Egress, SpfConfig, SpfMode, SpfResult, Transport};
pub use verdict::{Decision, SpfRefusal, Verdict};

/// How long a result without a TTL of its own (no record, DNS trouble) is kept.
const SHORT_TTL: Duration = Duration::from_secs(60);
/// Longest a result is kept, whatever the record says.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Cache entries at most, before expired ones are swept.
const MAX_ENTRIES: usize = 10_000;

/// What the pre-flight needs to know of one upstream.
#[derive(Debug, Clone)]
struct Target {
    egress: Egress,
    host: String,
    /// Provider name for messages ("Microsoft 365 / Exchange Online"), else the host.
    title: String,
    helo: String,
}

type Key = (String, String);

struct Cached {
    verdict: Verdict,
    expires: Instant,
}

pub struct SpfCheck {
    config: SpfConfig,
    auth: Option<MessageAuthenticator>,
    hostname: String,
    targets: HashMap<String, Target>,
    cache: Mutex<HashMap<Key, Arc<OnceCell<Cached>>>>,
}

impl std::fmt::Debug for SpfCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpfCheck({:?})", self.config.mode)
    }
}

/// The resolver `[spf] dns_servers` names, else the system's (`/etc/resolv.conf`).
pub fn resolver(config: &SpfConfig) -> Result<TokioResolver, String> {
    let (rc, mut opts) = if config.dns_servers.is_empty() {
        hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("cannot read the system DNS configuration: {e}"))?
    } else {
        let servers = config
            .dns_servers
            .iter()
            .map(|a| {
                let mut udp = ConnectionConfig::udp();
                udp.port = a.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = a.port();
                NameServerConfig::new(a.ip(), true, vec![udp, tcp])
            })
            .collect();
        (
            ResolverConfig::from_name_servers(servers),
            ResolverOpts::default(),
        )
    };
    // One lookup may not eat the whole budget: several are needed for an include chain.
    opts.timeout = (config.timeout / 2).min(Duration::from_secs(5));
    opts.attempts = 2;
    TokioResolver::builder_with_config(rc, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| format!("cannot set up the DNS resolver: {e}"))
}

impl SpfCheck {
    /// A checker for every SMTP upstream of `config`. A resolver that cannot be built is a
    /// warning, not a failure to start: every check then ends in `temperror`.
    pub fn new(config: &Config) -> SpfCheck {
        let targets = config
            .upstreams
            .iter()
            .filter_map(|u| match &u.transport {
                Transport::Smtp(s) => Some((
                    u.name.clone(),
                    Target {
                        egress: s.egress.clone(),
                        host: s.host.clone(),
                        title: s
                            .preset
                            .and_then(crate::config::presets::find)
                            .map(|p| short_title(p.title))
                            .unwrap_or_else(|| s.host.clone()),
                        helo: s
                            .helo_name
                            .clone()
                            .unwrap_or_else(|| config.server.hostname.clone()),
                    },
                )),
                Transport::Graph(g) => Some((
                    u.name.clone(),
                    Target {
                        egress: g.egress.clone(),
                        host: g.graph_url.clone(),
                        title: "Microsoft 365 (Graph)".into(),
                        helo: config.server.hostname.clone(),
                    },
                )),
                Transport::File { .. } => None,
            })
            .collect::<HashMap<_, _>>();
        let auth = if config.spf.mode == SpfMode::Off || targets.is_empty() {
            None
        } else {
            match resolver(&config.spf) {
                Ok(r) => Some(MessageAuthenticator(r)),
                Err(e) => {
                    tracing::warn!("SPF pre-flight has no DNS: {e}");
                    None
                }
            }
        };
        SpfCheck {
            config: config.spf.clone(),
            auth,
            hostname: config.server.hostname.clone(),
            targets,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn mode(&self) -> SpfMode {
        self.config.mode
    }

    /// The verdict for mail from `sender` through `upstream`, from the cache when fresh.
    /// `None` when there is nothing to check: mode off, a null sender, or an upstream that is
    /// not SMTP (a directory sends nothing).
    pub async fn check(&self, sender: &str, upstream: Option<&str>) -> Option<Verdict> {
        if self.config.mode == SpfMode::Off {
            return None;
        }
        let (name, target) = self.target(upstream)?;
        let domain = sender_domain(sender)?;
        let key = (domain.clone(), name.to_string());
        let cell = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if cache.len() >= MAX_ENTRIES {
                cache.retain(|_, c| c.get().is_none_or(|c| c.expires > now));
            }
            match cache.get(&key) {
                Some(c) if c.get().is_none_or(|c| c.expires > now) => c.clone(),
                _ => {
                    let c = Arc::new(OnceCell::new());
                    cache.insert(key, c.clone());
                    c
                }
            }
        };
        // Concurrent messages from one domain share one evaluation.
        let cached = cell
            .get_or_init(|| async {
                let (verdict, expires) = self.evaluate(sender, &domain, name, target).await;
                Cached { verdict, expires }
            })
            .await;
        Some(cached.verdict.clone())
    }

    /// Evaluates without the cache (for `smarthost spf check`), whatever the mode.
    pub async fn check_now(&self, domain: &str, upstream: Option<&str>) -> Result<Verdict, String> {
        let (name, target) = self.target(upstream).ok_or_else(|| match upstream {
            Some(u) => format!("no SMTP upstream named {u}"),
            None => "no SMTP upstream is configured".to_string(),
        })?;
        let domain = sender_domain(&format!("postmaster@{domain}"))
            .ok_or_else(|| format!("`{domain}` is not a domain name"))?;
        let sender = format!("postmaster@{domain}");
        Ok(self.evaluate(&sender, &domain, name, target).await.0)
    }

    /// What the session should do with a message of `sender` through `upstream`.
    pub async fn decide(&self, sender: &str, upstream: Option<&str>) -> Decision {
        match self.check(sender, upstream).await {
            None => Decision::Relay { header: None },
            Some(v) => verdict::decide(&self.config, v),
        }
    }

    fn target(&self, upstream: Option<&str>) -> Option<(&str, &Target)> {
        let name = upstream?;
        self.targets
            .get_key_value(name)
            .map(|(n, t)| (n.as_str(), t))
    }

    async fn evaluate(
        &self,
        sender: &str,
        domain: &str,
        upstream: &str,
        target: &Target,
    ) -> (Verdict, Instant) {
        let mut v = Verdict::new(domain, upstream, &target.title, &target.egress);
        let Some(auth) = &self.auth else {
            v.result = SpfResult::TempError;
            v.detail = Some("no DNS resolver could be set up (see the log at start)".into());
            return (v, Instant::now() + SHORT_TTL);
        };
        let budget = self.config.timeout;
        let run = self.evaluate_with(auth, sender, domain, target, &mut v);
        match tokio::time::timeout(budget, run).await {
            Ok(expires) => (v, expires),
            Err(_) => {
                v.result = SpfResult::TempError;
                v.detail = Some(format!(
                    "DNS did not answer within {} s",
                    budget.as_secs_f64()
                ));
                (v, Instant::now() + SHORT_TTL)
            }
        }
    }

    async fn evaluate_with(
        &self,
        auth: &MessageAuthenticator,
        sender: &str,
        domain: &str,
        target: &Target,
        v: &mut Verdict,
    ) -> Instant {
        let now = Instant::now();
        let short = now + SHORT_TTL;
        // The addresses first: every verdict, even "no record", says what to add.
        let ips = match egress::addresses(&auth.0, &target.egress, &target.host).await {
            Ok(ips) => ips,
            Err(e) => {
                v.result = SpfResult::TempError;
                v.detail = Some(e);
                return short;
            }
        };
        v.ips = ips.clone();
        let Some((record, expires)) = own_record(auth, domain, v).await else {
            return short;
        };
        v.record = Some(record.clone());
        let recorder = egress::Recorder::default();
        let mut worst = SpfResult::Pass;
        for ip in &ips {
            let out = auth
                .verify_spf(
                    Parameters::new(SpfParameters::verify_mail_from(
                        *ip,
                        &target.helo,
                        &self.hostname,
                        sender,
                    ))
                    .with_txt_cache(&recorder),
                )
                .await;
            let r = from_mail_auth(out.result());
            if severity(r) > severity(worst) {
                worst = r;
            }
            if r != SpfResult::Pass {
                v.failing.push(*ip);
            }
        }
        v.result = worst;
        let lookups = recorder.take();
        if worst == SpfResult::PermError && v.detail.is_none() {
            v.detail = Some(if lookups.len() > 10 {
                "the record needs more than 10 DNS lookups (RFC 7208 4.6.4)".to_string()
            } else if !egress::parses(&record) {
                format!("the record of {domain} is not valid SPF")
            } else {
                "an include or redirect points to a name without an SPF record".to_string()
            });
        }
        let mut expires = expires;
        for (name, until) in &lookups {
            if let Some(u) = until {
                expires = expires.min(*u);
            }
            let name = name.trim_end_matches('.');
            if name != domain && !v.path.iter().any(|(n, _)| n == name) {
                v.path.push((name.to_string(), String::new()));
            }
        }
        if matches!(worst, SpfResult::TempError) {
            return short;
        }
        expires.clamp(now + Duration::from_secs(1), now + MAX_TTL)
    }

    /// Fills in the record text of each name on the evaluation path (for the report).
    pub async fn describe_path(&self, v: &mut Verdict) {
        let Some(auth) = &self.auth else { return };
        for (name, text) in v.path.iter_mut() {
            if text.is_empty()
                && let Ok(records) = egress::txt(&auth.0, name).await
            {
                *text = records
                    .into_iter()
                    .filter(|r| egress::is_spf(r))
                    .collect::<Vec<_>>()
                    .join(" | ");
            }
        }
    }
}

/// "Microsoft 365 / Exchange Online (SMTP AUTH ...)" -> "Microsoft 365 / Exchange Online".
fn short_title(title: &str) -> String {
    title.split(" (").next().unwrap_or(title).to_string()
}

/// The ASCII domain of an address, `None` for the null sender or no domain.
pub fn sender_domain(sender: &str) -> Option<String> {
    let (_, d) = sender.rsplit_once('@')?;
    crate::policy::blacklist::domain_ascii(d).map(|d| d.to_ascii_lowercase())
}

fn from_mail_auth(r: mail_auth::SpfResult) -> SpfResult {
    match r {
        mail_auth::SpfResult::Pass => SpfResult::Pass,
        mail_auth::SpfResult::Fail => SpfResult::Fail,
        mail_auth::SpfResult::SoftFail => SpfResult::SoftFail,
        mail_auth::SpfResult::Neutral => SpfResult::Neutral,
        mail_auth::SpfResult::TempError => SpfResult::TempError,
        mail_auth::SpfResult::PermError => SpfResult::PermError,
        mail_auth::SpfResult::None => SpfResult::None,
    }
}

/// Which of two results for the same mail through different addresses is reported: the one
/// that would hurt delivery most.
fn severity(r: SpfResult) -> u8 {
    match r {
        SpfResult::Pass => 0,
        SpfResult::None => 1,
        SpfResult::Neutral => 2,
        SpfResult::SoftFail => 3,
        SpfResult::Fail => 4,
        SpfResult::PermError => 5,
        SpfResult::TempError => 6,
    }
}

/// The domain's own record: mail-auth takes the first SPF record it finds, but two of them are
/// a permerror (RFC 7208 4.5), and the record text belongs in the report. `None` when the
/// verdict is already decided (written into `v`).
async fn own_record(
    auth: &MessageAuthenticator,
    domain: &str,
    v: &mut Verdict,
) -> Option<(String, Instant)> {
    match egress::spf_record(&auth.0, domain).await {
        Ok(Some(r)) => Some(r),
        Ok(None) => {
            v.result = SpfResult::None;
            None
        }
        Err(egress::RecordError::Two(records)) => {
            v.result = SpfResult::PermError;
            v.detail = Some(format!(
                "{domain} publishes {} SPF records; there must be exactly one",
                records.len()
            ));
            v.record = Some(records.join(" | "));
            None
        }
        Err(egress::RecordError::Dns(e)) => {
            v.result = SpfResult::TempError;
            v.detail = Some(format!("DNS lookup of {domain} failed: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests;
