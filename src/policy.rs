//! Policy: what smarthost changes or refuses between the session and the spool, in one fixed
//! order (see `docs/policy.md` for why this order):
//!
//! `route -> blacklist -> test mode -> rewrite (sender, From, Reply-To) -> BCC -> headers -> signature`
//!
//! Every step is a pure function of (envelope, headers, config); the only state is the blacklist
//! file, re-read when it changes. Never touches the network or the spool.

pub mod blacklist;
pub mod headers;
pub mod rewrite;
pub mod signature;
pub mod test_mode;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{BlacklistAction, Config, Origin, PolicyConfig, ProfileMatch, Upstream};
use crate::envelope::{Envelope, Recipient};
use crate::session::reply::{self, Reply};
use blacklist::{Blacklist, BlacklistError};

/// The rules in force for one route.
struct Rules {
    config: PolicyConfig,
    blacklist: Option<Arc<Blacklist>>,
}

/// The rules in force, replaced whole when the configuration is reloaded: a message in
/// progress keeps the set it started with only as long as one call lasts, and every new call
/// sees the newest set.
pub struct Policy {
    current: arc_swap::ArcSwap<PolicySet>,
}

/// Every rule of one configuration.
pub struct PolicySet {
    upstreams: Vec<Upstream>,
    global: Rules,
    per_upstream: HashMap<String, Rules>,
    profiles: Vec<ProfileRules>,
}

/// An app profile: whom it matches, where its mail goes, and its rules (global, then its
/// upstream's, then its own sections).
struct ProfileRules {
    matches: ProfileMatch,
    upstream: Option<String>,
    rules: Rules,
}

/// The message after policy.
#[derive(Debug)]
pub struct Applied {
    pub envelope: Envelope,
    pub body: Vec<u8>,
    /// Recipients removed by a `drop` blacklist.
    pub dropped: Vec<String>,
    /// Test mode redirected this message.
    pub test_mode: bool,
}

impl Policy {
    pub fn new(config: &Config) -> Result<Policy, BlacklistError> {
        Ok(Policy {
            current: arc_swap::ArcSwap::from_pointee(PolicySet::new(config)?),
        })
    }

    /// Puts the rules of a reloaded configuration in force.
    pub fn install(&self, rules: PolicySet) {
        self.current.store(Arc::new(rules));
    }

    /// Whether test mode redirects mail now (globally, or for some upstream or profile).
    pub fn test_mode(&self) -> bool {
        self.current.load().test_mode_anywhere()
    }

    /// The first app profile matching `origin`, if any.
    pub fn profile(&self, origin: &Origin) -> Option<usize> {
        self.current.load().profile(origin)
    }

    /// See [`PolicySet::sender_route`].
    pub fn sender_route(&self, profile: Option<usize>, sender: &str) -> (Option<String>, bool) {
        self.current.load().sender_route(profile, sender)
    }

    /// See [`PolicySet::appends_signature`].
    pub fn appends_signature(&self, profile: Option<usize>, sender: &str) -> bool {
        self.current.load().appends_signature(profile, sender)
    }

    pub fn check_rcpt(&self, sender: &str, rcpt: &str) -> Option<Reply> {
        self.current.load().check_rcpt_as(None, sender, rcpt)
    }

    pub fn check_rcpt_as(&self, profile: Option<usize>, sender: &str, rcpt: &str) -> Option<Reply> {
        self.current.load().check_rcpt_as(profile, sender, rcpt)
    }

    pub fn apply(&self, env: Envelope, body: Vec<u8>) -> Applied {
        self.current.load().apply_as(None, env, body)
    }

    pub fn apply_as(&self, profile: Option<usize>, env: Envelope, body: Vec<u8>) -> Applied {
        self.current.load().apply_as(profile, env, body)
    }
}

impl PolicySet {
    fn test_mode_anywhere(&self) -> bool {
        self.global.config.test_mode.enabled
            || self
                .per_upstream
                .values()
                .any(|r| r.config.test_mode.enabled)
            || self
                .profiles
                .iter()
                .any(|p| p.rules.config.test_mode.enabled)
    }

    pub fn new(config: &Config) -> Result<PolicySet, BlacklistError> {
        let mut lists: HashMap<std::path::PathBuf, Arc<Blacklist>> = HashMap::new();
        let mut rules = |config: PolicyConfig| -> Result<Rules, BlacklistError> {
            let blacklist = match &config.blacklist.file {
                Some(path) => Some(match lists.get(path) {
                    Some(b) => b.clone(),
                    None => {
                        let b = Arc::new(Blacklist::open(path)?);
                        lists.insert(path.clone(), b.clone());
                        b
                    }
                }),
                None => None,
            };
            Ok(Rules { config, blacklist })
        };
        let global = rules(config.policy.clone())?;
        let mut per_upstream = HashMap::new();
        for u in &config.upstreams {
            per_upstream.insert(
                u.name.clone(),
                rules(config.policy.overridden_by(&u.policy))?,
            );
        }
        let mut profiles = Vec::new();
        for p in &config.profiles {
            let base = match p
                .upstream
                .as_ref()
                .and_then(|n| config.upstreams.iter().find(|u| &u.name == n))
            {
                Some(u) => config.policy.overridden_by(&u.policy),
                None => config.policy.clone(),
            };
            profiles.push(ProfileRules {
                matches: p.matches.clone(),
                upstream: p.upstream.clone(),
                rules: rules(base.overridden_by(&p.policy))?,
            });
        }
        if config.policy.test_mode.enabled
            || per_upstream.values().any(|r| r.config.test_mode.enabled)
            || profiles.iter().any(|p| p.rules.config.test_mode.enabled)
        {
            tracing::warn!(
                "TEST MODE ON: mail is redirected to the test address, nobody else gets it"
            );
        }
        Ok(PolicySet {
            upstreams: config.upstreams.clone(),
            global,
            per_upstream,
            profiles,
        })
    }

    /// The first app profile matching `origin`, if any.
    pub fn profile(&self, origin: &Origin) -> Option<usize> {
        self.profiles.iter().position(|p| p.matches.matches(origin))
    }

    /// The upstream and rules for a message: its profile's, else by sender.
    fn rules(&self, profile: Option<usize>, sender: &str) -> (Option<String>, &Rules) {
        if let Some(p) = profile.and_then(|i| self.profiles.get(i)) {
            let up = p
                .upstream
                .clone()
                .or_else(|| crate::router::route(sender, &self.upstreams).map(|u| u.name.clone()));
            return (up, &p.rules);
        }
        let up = crate::router::route(sender, &self.upstreams);
        let rules = up
            .and_then(|u| self.per_upstream.get(&u.name))
            .unwrap_or(&self.global);
        (up.map(|u| u.name.clone()), rules)
    }

    /// The upstream for mail of `sender`, and whether policy replaces the envelope sender (then
    /// the sender as given is not the one the upstream will see).
    pub fn sender_route(&self, profile: Option<usize>, sender: &str) -> (Option<String>, bool) {
        let (up, rules) = self.rules(profile, sender);
        (up, rules.config.rewrite.from.is_some())
    }

    /// Whether mail of `sender` gets the company signature: the one step of policy that parses
    /// and re-encodes the MIME body (the session runs it off its async worker then).
    pub fn appends_signature(&self, profile: Option<usize>, sender: &str) -> bool {
        let rw = &self.rules(profile, sender).1.config.rewrite;
        rw.signature_text.is_some() || rw.signature_html.is_some()
    }

    /// Called at RCPT: `Some(reply)` refuses this recipient.
    pub fn check_rcpt(&self, sender: &str, rcpt: &str) -> Option<Reply> {
        self.check_rcpt_as(None, sender, rcpt)
    }

    /// [`Policy::check_rcpt`] for a message of the given app profile.
    pub fn check_rcpt_as(&self, profile: Option<usize>, sender: &str, rcpt: &str) -> Option<Reply> {
        let (_, rules) = self.rules(profile, sender);
        let bl = rules.blacklist.as_ref()?;
        (rules.config.blacklist.action == BlacklistAction::Reject && bl.contains(rcpt))
            .then(reply::blacklisted)
    }

    /// Applies every step, in order, to a complete message.
    pub fn apply(&self, env: Envelope, body: Vec<u8>) -> Applied {
        self.apply_as(None, env, body)
    }

    /// [`Policy::apply`] for a message of the given app profile.
    pub fn apply_as(&self, profile: Option<usize>, mut env: Envelope, body: Vec<u8>) -> Applied {
        // 1. route: the profile's upstream, else decided on the sender as the client gave it,
        // before any rewrite.
        let (up, rules) = self.rules(profile, &env.mail_from);
        env.upstream = up;
        let cfg = &rules.config;
        // 2. blacklist (drop): reject was already answered at RCPT.
        let mut dropped = Vec::new();
        if let Some(bl) = &rules.blacklist {
            env.recipients.retain(|r| {
                let hit = bl.contains(&r.address);
                if hit {
                    dropped.push(r.address.clone());
                }
                !hit
            });
        }
        if env.recipients.is_empty() {
            return Applied {
                envelope: env,
                body,
                dropped,
                test_mode: false,
            };
        }
        // Most relays configure no header change at all: then the message is not even parsed.
        let touches_headers = cfg.test_mode.enabled || cfg.rewrite.touches_headers();
        let fields = if touches_headers {
            headers::fields(&body)
        } else {
            Vec::new()
        };
        let mut edits = headers::Edits::default();
        // 3. test mode
        let test_mode = cfg.test_mode.enabled;
        if test_mode {
            test_mode::redirect(&mut env, &fields, &cfg.test_mode, &mut edits);
        }
        // 4. sender, From, Reply-To, Sender; 6. receipt and importance headers
        if touches_headers {
            rewrite::rewrite(&mut env, &fields, &cfg.rewrite, &mut edits);
        }
        // 5. BCC archive: envelope only.
        for a in &cfg.rewrite.bcc {
            if !env
                .recipients
                .iter()
                .any(|r| r.address.eq_ignore_ascii_case(a))
            {
                env.recipients.push(Recipient {
                    address: a.clone(),
                    orcpt: None,
                    notify: None,
                });
            }
        }
        let mut body = edits.apply_owned(body);
        // 6. signature, after every header edit so its offsets refer to the final message.
        let rw = &cfg.rewrite;
        if rw.signature_text.is_some() || rw.signature_html.is_some() {
            match signature::append(
                &body,
                rw.signature_text.as_deref(),
                rw.signature_html.as_deref(),
            ) {
                Ok(signed) => body = signed,
                Err(why) => {
                    tracing::warn!("signature not added ({why:?}); message relayed unchanged")
                }
            }
        }
        Applied {
            envelope: env,
            body,
            dropped,
            test_mode,
        }
    }
}

#[cfg(test)]
mod tests;
