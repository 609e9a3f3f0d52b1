//! The DNS side of the pre-flight that mail-auth does not do for us: the domain's raw SPF
//! record(s), the addresses an upstream sends from, and a recorder of the lookups an evaluation
//! made (its path, and the TTLs that bound the cache).

use std::borrow::Borrow;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::{ResolverCache, Txt};

use crate::config::Egress;

pub enum RecordError {
    /// More than one `v=spf1` record.
    Two(Vec<String>),
    Dns(String),
}

/// Every TXT string of `name`, each record's strings joined (RFC 7208 3.3).
pub async fn txt(resolver: &TokioResolver, name: &str) -> Result<Vec<String>, String> {
    txt_with_ttl(resolver, name).await.map(|(r, _)| r)
}

async fn txt_with_ttl(
    resolver: &TokioResolver,
    name: &str,
) -> Result<(Vec<String>, Option<Instant>), String> {
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match resolver.txt_lookup(fqdn.as_str()).await {
        Ok(lookup) => {
            let records = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect();
            Ok((records, Some(lookup.valid_until())))
        }
        Err(e) if e.is_no_records_found() => Ok((Vec::new(), None)),
        Err(e) => Err(e.to_string()),
    }
}

/// `v=spf1` followed by a space or nothing (RFC 7208 4.5), case-insensitively.
pub fn is_spf(record: &str) -> bool {
    let r = record.as_bytes();
    r.len() >= 6 && r[..6].eq_ignore_ascii_case(b"v=spf1") && r.get(6).is_none_or(|b| *b == b' ')
}

/// Does mail-auth accept this record's syntax?
pub fn parses(record: &str) -> bool {
    mail_auth::spf::Spf::parse(record.as_bytes()).is_ok()
}

/// The one SPF record of `domain` and until when it is valid; `None` when it has none.
pub async fn spf_record(
    resolver: &TokioResolver,
    domain: &str,
) -> Result<Option<(String, Instant)>, RecordError> {
    let (records, until) = txt_with_ttl(resolver, domain)
        .await
        .map_err(RecordError::Dns)?;
    let mut spf: Vec<String> = records.into_iter().filter(|r| is_spf(r)).collect();
    match spf.len() {
        0 => Ok(None),
        1 => Ok(Some((
            spf.remove(0),
            until.unwrap_or_else(|| Instant::now() + super::SHORT_TTL),
        ))),
        _ => Err(RecordError::Two(spf)),
    }
}

/// The addresses to test for an upstream: the configured ones, one IPv4 and one IPv6 address
/// the provider's include authorizes, or what the host resolves to.
pub async fn addresses(
    resolver: &TokioResolver,
    egress: &Egress,
    host: &str,
) -> Result<Vec<IpAddr>, String> {
    match egress {
        Egress::Addresses(nets) => Ok(nets.iter().map(|n| n.addr()).collect()),
        Egress::Include(include) => {
            let ips = representatives(resolver, include).await?;
            if ips.is_empty() {
                return Err(format!(
                    "the provider record {include} lists no address (ip4: or ip6:)"
                ));
            }
            Ok(ips)
        }
        Egress::Host => {
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(vec![ip]);
            }
            let found = resolver
                .lookup_ip(format!("{}.", host.trim_end_matches('.')).as_str())
                .await
                .map_err(|e| format!("cannot resolve the upstream host {host}: {e}"))?;
            let mut ips: Vec<IpAddr> = found.iter().collect();
            ips.sort();
            ips.dedup();
            ips.truncate(4);
            Ok(ips)
        }
    }
}

/// The first `ip4:` and first `ip6:` address reachable from a provider's SPF record through
/// `include:` and `redirect=`, within the 10-lookup limit. A domain that authorizes the provider
/// authorizes these.
async fn representatives(resolver: &TokioResolver, include: &str) -> Result<Vec<IpAddr>, String> {
    let mut todo = vec![include.to_string()];
    let (mut v4, mut v6) = (None, None);
    let mut lookups = 0;
    while let Some(name) = todo.pop() {
        lookups += 1;
        if lookups > 10 || (v4.is_some() && v6.is_some()) {
            break;
        }
        let records = txt(resolver, &name)
            .await
            .map_err(|e| format!("cannot read the provider record {name}: {e}"))?;
        let Some(record) = records.into_iter().find(|r| is_spf(r)) else {
            continue;
        };
        let mut nested = Vec::new();
        for term in record.split_ascii_whitespace().skip(1) {
            let term = term.trim_start_matches(['+', '?', '~', '-']);
            let lower = term.to_ascii_lowercase();
            let addr = |v: &str| v.split('/').next().and_then(|a| a.parse::<IpAddr>().ok());
            if let Some(v) = lower.strip_prefix("ip4:") {
                if v4.is_none() {
                    v4 = addr(v);
                }
            } else if let Some(v) = lower.strip_prefix("ip6:") {
                if v6.is_none() {
                    v6 = addr(v);
                }
            } else if let Some(n) = lower
                .strip_prefix("include:")
                .or_else(|| lower.strip_prefix("redirect="))
                && !n.contains('%')
            {
                nested.push(n.to_string());
            }
        }
        // Depth first, in record order.
        todo.extend(nested.into_iter().rev());
    }
    Ok(v4.into_iter().chain(v6).collect())
}

/// A TXT "cache" that never answers and remembers what mail-auth looked up, in order, with
/// until when each answer is valid.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<Vec<(String, Option<Instant>)>>,
}

impl Recorder {
    pub fn take(&self) -> Vec<(String, Option<Instant>)> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl ResolverCache<Box<str>, Txt> for Recorder {
    fn get<Q>(&self, _: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn remove<Q>(&self, _: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, key: Box<str>, _: Txt, valid_until: Instant) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((key.into_string(), Some(valid_until)));
    }
}
