//! Built-in provider presets (`preset = "office365"` in an upstream): host, port, CONN and AUTH
//! mode and the provider's published sending limits in one word. Explicit keys in the upstream
//! override every value here. The sources of each figure are in `docs/limits.md`; a figure a
//! provider does not publish is left unset rather than guessed.

use std::time::Duration;

use super::values::{AuthMode, ConnMode, Count, Rate};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    /// The upstream kind it fills in: `smtp` or `graph`.
    pub kind: &'static str,
    pub title: &'static str,
    pub host: &'static str,
    pub port: u16,
    pub conn: ConnMode,
    pub auth: AuthMode,
    pub limits: PresetLimits,
    /// What to put in the password field, in the admin's words.
    pub advice: &'static str,
    /// The SPF include a customer domain must list to authorize the provider's servers; `None`
    /// when the provider publishes none.
    pub spf_include: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PresetLimits {
    pub rate: Option<Rate>,
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
    pub per_week: Option<u32>,
    pub count: Option<Count>,
    pub max_connections: Option<usize>,
    pub max_recipients_per_message: Option<usize>,
}

const MINUTE: Duration = Duration::from_secs(60);

pub const PRESETS: &[Preset] = &[
    Preset {
        kind: "smtp",
        name: "office365",
        spf_include: Some("spf.protection.outlook.com"),
        title: "Microsoft 365 / Exchange Online (SMTP AUTH client submission)",
        host: "smtp.office365.com",
        port: 587,
        conn: ConnMode::StartTls,
        // The submission endpoint offers LOGIN and XOAUTH2, never PLAIN.
        auth: AuthMode::Login,
        limits: PresetLimits {
            rate: Some(Rate {
                count: 30,
                per: MINUTE,
            }),
            per_hour: None,
            per_day: Some(10_000),
            per_week: None,
            count: Some(Count::Recipients),
            max_connections: Some(3),
            max_recipients_per_message: Some(500),
        },
        advice: "the mailbox password only while the tenant allows SMTP AUTH with basic \
                 authentication (disabled by default for existing tenants from the end of \
                 December 2026); otherwise auth = \"xoauth2\" with an OAuth2 token",
    },
    Preset {
        kind: "smtp",
        name: "gmail",
        spf_include: Some("_spf.google.com"),
        title: "Gmail / Google Workspace (smtp.gmail.com)",
        host: "smtp.gmail.com",
        port: 587,
        conn: ConnMode::StartTls,
        auth: AuthMode::Plain,
        limits: PresetLimits {
            rate: None,
            per_hour: None,
            per_day: Some(2_000),
            per_week: None,
            count: Some(Count::Messages),
            max_connections: None,
            max_recipients_per_message: Some(100),
        },
        advice: "an app password (needs 2-Step Verification), never the account password; \
                 or auth = \"xoauth2\" with an OAuth2 token",
    },
    Preset {
        kind: "smtp",
        name: "infomaniak",
        spf_include: Some("spf.infomaniak.ch"),
        title: "Infomaniak (kSuite, Mail Service)",
        host: "mail.infomaniak.com",
        port: 587,
        conn: ConnMode::StartTls,
        auth: AuthMode::Login,
        limits: PresetLimits {
            rate: None,
            per_hour: None,
            // The smallest plans' figure; paid plans allow 1,440 (set per_day to raise it).
            per_day: Some(500),
            per_week: None,
            count: Some(Count::Recipients),
            max_connections: None,
            max_recipients_per_message: Some(100),
        },
        advice: "the full e-mail address as username and the mailbox password",
    },
    Preset {
        kind: "smtp",
        name: "bluewin",
        spf_include: None,
        title: "Bluewin / Swisscom (smtpauths.bluewin.ch)",
        host: "smtpauths.bluewin.ch",
        port: 465,
        conn: ConnMode::SslTls,
        auth: AuthMode::Login,
        // Swisscom publishes no sending limits; none are assumed.
        limits: PresetLimits {
            rate: None,
            per_hour: None,
            per_day: None,
            per_week: None,
            count: None,
            max_connections: None,
            max_recipients_per_message: None,
        },
        advice: "the Bluewin e-mail address as username and its password",
    },
    Preset {
        kind: "graph",
        name: "office365-graph",
        spf_include: Some("spf.protection.outlook.com"),
        title: "Microsoft 365 through Microsoft Graph sendMail (no SMTP AUTH)",
        host: "graph.microsoft.com",
        port: 443,
        conn: ConnMode::SslTls,
        auth: AuthMode::Xoauth2,
        // The same Exchange Online limits as SMTP submission: they are the mailbox's.
        limits: PresetLimits {
            rate: Some(Rate {
                count: 30,
                per: MINUTE,
            }),
            per_hour: None,
            per_day: Some(10_000),
            per_week: None,
            count: Some(Count::Recipients),
            // Graph allows 4 concurrent requests per app and mailbox; Exchange 3 for sending.
            max_connections: Some(3),
            max_recipients_per_message: Some(500),
        },
        advice: "no password: an Entra app with the Mail.Send application permission \
                 (admin consent), its client secret in [upstream.oauth2]",
    },
    Preset {
        kind: "smtp",
        name: "office365-connector",
        spf_include: Some("spf.protection.outlook.com"),
        title: "Microsoft 365 inbound connector (tenant MX, port 25, client certificate or IP)",
        // A placeholder: each tenant has its own MX host, which the upstream must give.
        host: "<domain>.mail.protection.outlook.com",
        port: 25,
        conn: ConnMode::StartTls,
        auth: AuthMode::None,
        limits: EXCHANGE_LIMITS,
        advice: "no password: an inbound connector identified by this office's IP or by \
                 tls_client_cert (a public CA's certificate whose name is the connector's \
                 TlsSenderCertificateName); host = your <domain>.mail.protection.outlook.com",
    },
    Preset {
        kind: "smtp",
        name: "gmail-relay",
        spf_include: Some("_spf.google.com"),
        title: "Google Workspace SMTP relay service (smtp-relay.gmail.com)",
        host: "smtp-relay.gmail.com",
        port: 587,
        conn: ConnMode::StartTls,
        // A login when a username is set, else none: the relay knows the office by its IP.
        auth: AuthMode::Auto,
        limits: PresetLimits {
            rate: None,
            per_hour: None,
            // 10,000 messages and 10,000 recipients per user a day: counting recipients keeps both.
            per_day: Some(10_000),
            per_week: None,
            count: Some(Count::Recipients),
            max_connections: None,
            max_recipients_per_message: Some(100),
        },
        advice: "none when the Admin console's SMTP relay service allows this office's IP; \
                 otherwise a Workspace user and an app password with \"require SMTP \
                 authentication\" on",
    },
];

/// Exchange Online's sending limits, shared by the Microsoft presets.
const EXCHANGE_LIMITS: PresetLimits = PresetLimits {
    rate: Some(Rate {
        count: 30,
        per: MINUTE,
    }),
    per_hour: None,
    per_day: Some(10_000),
    per_week: None,
    count: Some(Count::Recipients),
    max_connections: Some(3),
    max_recipients_per_message: Some(500),
};

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
}

pub fn names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}
