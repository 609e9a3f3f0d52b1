//! Policy sections: `[blacklist]`, `[test_mode]` and `[rewrite]`, globally or inside an
//! `[[upstream]]` (where a section replaces the global one for mail routed there). Parsed into
//! typed values once; the policy stage only reads them.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, de};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlacklistConfig {
    /// One entry a line: `user@domain`, `@domain` or `*.domain`; `#` starts a comment.
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub action: BlacklistAction,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BlacklistAction {
    /// `550 5.7.1` at RCPT; nothing is queued for that recipient.
    #[default]
    Reject,
    /// Accepted, never sent, logged.
    Drop,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestModeConfig {
    #[serde(default)]
    pub enabled: bool,
    pub redirect_to: Option<String>,
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
}

fn default_prefix() -> String {
    "[TEST] ".into()
}

impl Default for TestModeConfig {
    fn default() -> Self {
        TestModeConfig {
            enabled: false,
            redirect_to: None,
            subject_prefix: default_prefix(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// New envelope sender and `From:` address.
    pub from: Option<String>,
    /// New `From:` display name; the original one is kept when unset.
    pub from_name: Option<String>,
    /// Default: `original` when `from` is set, else `keep`.
    pub reply_to: Option<ReplyTo>,
    /// Hidden archive copies: envelope only, never in a header.
    #[serde(default)]
    pub bcc: Vec<String>,
    /// Appended to text/plain body parts.
    pub signature_text: Option<String>,
    /// Inserted before `</body>` of text/html body parts.
    pub signature_html: Option<String>,
    /// Ask for a read receipt (`Disposition-Notification-To:`).
    #[serde(default)]
    pub read_receipt: bool,
    pub importance: Option<Importance>,
}

/// What becomes of `Reply-To:` when the sender is rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTo {
    /// The original `From:` becomes `Reply-To:` when the message has none.
    Original,
    /// Leave `Reply-To:` as the client sent it.
    Keep,
    /// Always this address.
    Address(String),
}

impl<'de> Deserialize<'de> for ReplyTo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "original" => ReplyTo::Original,
            "keep" => ReplyTo::Keep,
            a if a.contains('@') => ReplyTo::Address(a.to_string()),
            other => {
                return Err(de::Error::custom(format!(
                    "reply_to must be \"original\", \"keep\" or an address, not `{other}`"
                )));
            }
        })
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Importance {
    High,
    Low,
}

/// The policy sections in force for one route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyConfig {
    pub blacklist: BlacklistConfig,
    pub test_mode: TestModeConfig,
    pub rewrite: RewriteConfig,
}

impl RewriteConfig {
    /// Whether any key here changes the message's header block.
    pub fn touches_headers(&self) -> bool {
        self.from.is_some()
            || matches!(self.reply_to, Some(ReplyTo::Address(_)))
            || self.read_receipt
            || self.importance.is_some()
    }
}

impl PolicyConfig {
    /// Sections given for an upstream replace the global ones.
    pub fn overridden_by(&self, up: &UpstreamPolicy) -> PolicyConfig {
        PolicyConfig {
            blacklist: up
                .blacklist
                .clone()
                .unwrap_or_else(|| self.blacklist.clone()),
            test_mode: up
                .test_mode
                .clone()
                .unwrap_or_else(|| self.test_mode.clone()),
            rewrite: up.rewrite.clone().unwrap_or_else(|| self.rewrite.clone()),
        }
    }

    /// Cross-key rules, as (key, message).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.test_mode.enabled
            && self
                .test_mode
                .redirect_to
                .as_deref()
                .is_none_or(|a| !a.contains('@'))
        {
            problems.push((
                "test_mode.redirect_to",
                "test mode is enabled: set redirect_to to an address".to_string(),
            ));
        }
        for (key, addr) in [("rewrite.from", &self.rewrite.from)] {
            if let Some(a) = addr
                && !a.contains('@')
            {
                problems.push((key, format!("`{a}` is not an address")));
            }
        }
        for a in &self.rewrite.bcc {
            if !a.contains('@') {
                problems.push(("rewrite.bcc", format!("`{a}` is not an address")));
            }
        }
        problems
    }
}

/// Policy sections written inside one `[[upstream]]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamPolicy {
    pub blacklist: Option<BlacklistConfig>,
    pub test_mode: Option<TestModeConfig>,
    pub rewrite: Option<RewriteConfig>,
}
