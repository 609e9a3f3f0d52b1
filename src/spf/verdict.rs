//! A pre-flight result in words: for the log, the `X-Smarthost-SPF:` header, the SMTP reply in
//! reject mode and `smarthost spf check`. Pure: no DNS here.

use std::net::IpAddr;

use crate::config::{Egress, SpfConfig, SpfMode, SpfResult};
use crate::session::reply::Reply;

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub result: SpfResult,
    pub domain: String,
    pub upstream: String,
    /// Who the upstream is, for people: the provider's name, else its host.
    pub provider: String,
    /// The provider's include, when the upstream has one.
    pub include: Option<String>,
    /// The domain's SPF record, when it has exactly one.
    pub record: Option<String>,
    /// The addresses evaluated, and those that did not pass.
    pub ips: Vec<IpAddr>,
    pub failing: Vec<IpAddr>,
    /// Other names whose records the evaluation read, in order, with their text once described.
    pub path: Vec<(String, String)>,
    /// Why, for errors: "two SPF records", "DNS did not answer".
    pub detail: Option<String>,
}

impl Verdict {
    pub(super) fn new(domain: &str, upstream: &str, provider: &str, egress: &Egress) -> Verdict {
        Verdict {
            result: SpfResult::None,
            domain: domain.to_string(),
            upstream: upstream.to_string(),
            provider: provider.to_string(),
            include: match egress {
                Egress::Include(i) => Some(i.clone()),
                _ => None,
            },
            record: None,
            ips: Vec::new(),
            failing: Vec::new(),
            path: Vec::new(),
            detail: None,
        }
    }

    /// What to add to the record so it authorizes the upstream.
    pub fn mechanism(&self) -> String {
        if let Some(i) = &self.include {
            return format!("include:{i}");
        }
        let ips = if self.failing.is_empty() {
            &self.ips
        } else {
            &self.failing
        };
        ips.iter()
            .map(|ip| match ip {
                IpAddr::V4(a) => format!("ip4:{a}"),
                IpAddr::V6(a) => format!("ip6:{a}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn who(&self) -> String {
        if self.include.is_some() {
            self.provider.clone()
        } else {
            let ips: Vec<String> = self.failing.iter().map(|i| i.to_string()).collect();
            if ips.is_empty() || ips == [self.provider.clone()] {
                self.provider.clone()
            } else {
                format!("{} ({})", self.provider, ips.join(", "))
            }
        }
    }

    /// The verdict in one plain sentence, with the fix when there is one.
    pub fn sentence(&self) -> String {
        let d = &self.domain;
        let who = self.who();
        let fix = self.mechanism();
        match self.result {
            SpfResult::Pass => format!("{d} authorizes {who} to send its mail"),
            SpfResult::Fail => {
                format!("{d} does not authorize {who}: add {fix} to its SPF record")
            }
            SpfResult::SoftFail => format!(
                "{d} does not fully authorize {who} (softfail, mail may be junked): add {fix} to its SPF record"
            ),
            SpfResult::Neutral => {
                format!("{d} says nothing about {who} (neutral): add {fix} to its SPF record")
            }
            SpfResult::None => format!(
                "{d} has no SPF record, so receivers cannot tell its mail from forgeries: publish \"v=spf1 {fix} ~all\""
            ),
            SpfResult::PermError => format!(
                "the SPF record of {d} is broken ({}): fix it, then it should list {fix}",
                self.detail.as_deref().unwrap_or("permerror")
            ),
            SpfResult::TempError => format!(
                "the SPF record of {d} could not be checked now ({})",
                self.detail.as_deref().unwrap_or("DNS error")
            ),
        }
    }

    /// The `X-Smarthost-SPF:` field, CRLF-terminated, folded to stay under 78 columns where it
    /// can.
    pub fn header(&self) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect()
        };
        let ips: Vec<String> = self.ips.iter().map(|i| i.to_string()).collect();
        let mut h = format!(
            "X-Smarthost-SPF: {} domain={}; upstream={}",
            self.result,
            clean(&self.domain),
            clean(&self.upstream)
        );
        if !ips.is_empty() {
            h.push_str(&format!("; ip={}", ips.join(",")));
        }
        if self.result != SpfResult::Pass {
            h.push_str(&format!("\r\n\t({})", clean(&self.sentence())));
        }
        h.push_str("\r\n");
        h
    }
}

/// Why a message is refused; each maps to one reply.
#[derive(Debug, thiserror::Error)]
pub enum SpfRefusal {
    /// RFC 7372: X.7.23 "SPF validation failed".
    #[error("SPF: {}", .0.sentence())]
    NotAuthorized(Box<Verdict>),
    /// RFC 7372: X.7.24 "SPF validation error" (the record is broken).
    #[error("SPF: {}", .0.sentence())]
    Broken(Box<Verdict>),
    /// DNS did not answer: try again later, never a bounce for a resolver hiccup.
    #[error("SPF: {}", .0.sentence())]
    DnsTrouble(Box<Verdict>),
}

impl SpfRefusal {
    pub fn reply(&self) -> Reply {
        let text = self.to_string();
        match self {
            SpfRefusal::NotAuthorized(_) => Reply::new(550, "5.7.23", text),
            SpfRefusal::Broken(_) => Reply::new(550, "5.7.24", text),
            SpfRefusal::DnsTrouble(_) => Reply::new(451, "4.4.3", text),
        }
    }
}

/// What the session does with the message.
#[derive(Debug)]
pub enum Decision {
    /// Queue it, with this header first when there is one.
    Relay {
        header: Option<Box<Verdict>>,
    },
    Refuse(SpfRefusal),
}

pub(super) fn decide(config: &SpfConfig, v: Verdict) -> Decision {
    if config.mode == SpfMode::Reject {
        if v.result == SpfResult::TempError {
            return Decision::Refuse(SpfRefusal::DnsTrouble(Box::new(v)));
        }
        if config.reject_on.contains(&v.result) {
            return Decision::Refuse(if v.result == SpfResult::PermError {
                SpfRefusal::Broken(Box::new(v))
            } else {
                SpfRefusal::NotAuthorized(Box::new(v))
            });
        }
    }
    Decision::Relay {
        header: Some(Box::new(v)),
    }
}
