//! Which upstream carries a message (PC CADDIE's "Filtre" and "serveur standard"): the first
//! upstream listing the sender's full address, else the first listing its domain, else the
//! default one. Pure: never touches the network or the spool.

use crate::config::Upstream;
use crate::policy::blacklist::domain_ascii;

pub fn route<'a>(sender: &str, upstreams: &'a [Upstream]) -> Option<&'a Upstream> {
    let sender = sender.to_lowercase();
    let domain = sender.rsplit_once('@').and_then(|(_, d)| domain_ascii(d));
    let by_address = upstreams
        .iter()
        .find(|u| u.senders.iter().any(|s| s.contains('@') && *s == sender));
    let by_domain = || {
        let d = domain.as_deref()?;
        upstreams.iter().find(|u| {
            u.senders
                .iter()
                .any(|s| !s.contains('@') && domain_ascii(s).as_deref() == Some(d))
        })
    };
    by_address
        .or_else(by_domain)
        .or_else(|| Upstream::pick_default(upstreams))
}

/// The upstream recorded at acceptance when it still exists, else a fresh decision.
pub fn route_stored<'a>(
    upstream: Option<&str>,
    sender: &str,
    upstreams: &'a [Upstream],
) -> Option<&'a Upstream> {
    upstream
        .and_then(|n| upstreams.iter().find(|u| u.name == n))
        .or_else(|| route(sender, upstreams))
}
