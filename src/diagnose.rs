//! "Why doesn't my mail go out?" in the admin's words: turns a failed connection step or a
//! refusal into a [`Problem`] and explains it with the fix, in English, French or German.
//! Pure: it reads errors and replies, never the network. Used by `send-test`.

use crate::catalog;
pub use crate::catalog::Lang;
use crate::config::ConnMode;
use crate::graph::GraphError;
use crate::graph::error::{Fix, Meaning};
use crate::throttle::signal::{self, Signal};
use crate::upstream::client::UpReply;
use crate::upstream::error::UpstreamError;

/// What went wrong, as an admin would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Implicit TLS spoken to a port that answers in plain text (587, 25).
    ImplicitTlsOnPlainPort,
    /// Plain text or STARTTLS on a port that waits for a TLS handshake (465).
    PlainOnImplicitTlsPort,
    CertificateName,
    UnknownCa,
    CertificateExpired,
    TlsFailed,
    StartTlsRequired,
    StartTlsNotOffered,
    CredentialsInClear,
    MechanismNotOffered,
    SmtpAuthDisabled,
    BasicAuthDisabled,
    AppPasswordRequired,
    BadCredentials,
    AuthRequired,
    SendAsDenied,
    QuotaExceeded,
    Throttled,
    RelayDenied,
    RecipientRefused,
    DnsFailed,
    ConnectionRefused,
    ConnectTimeout,
    /// The server refused an OAuth2 access token (XOAUTH2/OAUTHBEARER).
    TokenRefused,
    /// The OAuth2 grant is gone or was never obtained (revoked, expired, no refresh token).
    GrantMissing,
    /// The token endpoint refused the app itself (client id, secret, permission).
    AppRefused,
    /// The token endpoint could not be reached.
    TokenEndpointDown,
    /// Graph `403 ErrorAccessDenied`: no Mail.Send permission, consent or access policy.
    GraphPermissionMissing,
    /// Graph `404`: no such mailbox, or not one Graph can send from.
    GraphMailboxUnknown,
    /// Graph `403 ErrorSendAsDenied`.
    GraphSendAsDenied,
    /// Graph `429`/`503` with `Retry-After`.
    GraphThrottled,
    /// A self-signed server certificate that is neither in `ca_file` nor pinned.
    SelfSignedCertificate,
    /// A CA certificate presented as the server's own.
    CaAsEndEntity,
    /// The server's certificate is not one of the `tls_fingerprint` pins.
    FingerprintMismatch,
    /// Google's SMTP relay knows neither this office's IP nor its login.
    RelayNotAllowed,
    /// Google's SMTP relay daily limit for the user.
    RelayLimitExceeded,
    Other,
}

impl Problem {
    /// Every problem, for tests and the console.
    pub const ALL: [Problem; 37] = [
        Problem::ImplicitTlsOnPlainPort,
        Problem::PlainOnImplicitTlsPort,
        Problem::CertificateName,
        Problem::UnknownCa,
        Problem::CertificateExpired,
        Problem::TlsFailed,
        Problem::StartTlsRequired,
        Problem::StartTlsNotOffered,
        Problem::CredentialsInClear,
        Problem::MechanismNotOffered,
        Problem::SmtpAuthDisabled,
        Problem::BasicAuthDisabled,
        Problem::AppPasswordRequired,
        Problem::BadCredentials,
        Problem::AuthRequired,
        Problem::SendAsDenied,
        Problem::QuotaExceeded,
        Problem::Throttled,
        Problem::RelayDenied,
        Problem::RecipientRefused,
        Problem::DnsFailed,
        Problem::ConnectionRefused,
        Problem::ConnectTimeout,
        Problem::TokenRefused,
        Problem::GrantMissing,
        Problem::AppRefused,
        Problem::TokenEndpointDown,
        Problem::GraphPermissionMissing,
        Problem::GraphMailboxUnknown,
        Problem::GraphSendAsDenied,
        Problem::GraphThrottled,
        Problem::SelfSignedCertificate,
        Problem::CaAsEndEntity,
        Problem::FingerprintMismatch,
        Problem::RelayNotAllowed,
        Problem::RelayLimitExceeded,
        Problem::Other,
    ];

    /// A stable name for scripts and tests.
    pub fn code(self) -> &'static str {
        match self {
            Problem::ImplicitTlsOnPlainPort => "implicit_tls_on_plain_port",
            Problem::PlainOnImplicitTlsPort => "plain_on_implicit_tls_port",
            Problem::CertificateName => "certificate_name",
            Problem::UnknownCa => "unknown_ca",
            Problem::CertificateExpired => "certificate_expired",
            Problem::TlsFailed => "tls_failed",
            Problem::StartTlsRequired => "starttls_required",
            Problem::StartTlsNotOffered => "starttls_not_offered",
            Problem::CredentialsInClear => "credentials_in_clear",
            Problem::MechanismNotOffered => "mechanism_not_offered",
            Problem::SmtpAuthDisabled => "smtp_auth_disabled",
            Problem::BasicAuthDisabled => "basic_auth_disabled",
            Problem::AppPasswordRequired => "app_password_required",
            Problem::BadCredentials => "bad_credentials",
            Problem::AuthRequired => "auth_required",
            Problem::SendAsDenied => "send_as_denied",
            Problem::QuotaExceeded => "quota_exceeded",
            Problem::Throttled => "throttled",
            Problem::RelayDenied => "relay_denied",
            Problem::RecipientRefused => "recipient_refused",
            Problem::DnsFailed => "dns_failed",
            Problem::ConnectionRefused => "connection_refused",
            Problem::ConnectTimeout => "connect_timeout",
            Problem::TokenRefused => "token_refused",
            Problem::GrantMissing => "grant_missing",
            Problem::AppRefused => "app_refused",
            Problem::TokenEndpointDown => "token_endpoint_down",
            Problem::GraphPermissionMissing => "graph_permission_missing",
            Problem::GraphMailboxUnknown => "graph_mailbox_unknown",
            Problem::GraphSendAsDenied => "graph_send_as_denied",
            Problem::GraphThrottled => "graph_throttled",
            Problem::SelfSignedCertificate => "self_signed_certificate",
            Problem::CaAsEndEntity => "ca_as_end_entity",
            Problem::FingerprintMismatch => "fingerprint_mismatch",
            Problem::RelayNotAllowed => "relay_not_allowed",
            Problem::RelayLimitExceeded => "relay_limit_exceeded",
            Problem::Other => "other",
        }
    }

    /// The catalog message that explains it (`.what` and `.fix`).
    pub fn message_id(self) -> String {
        format!("problem-{}", self.code().replace('_', "-"))
    }
}

/// Where the connection was going and how.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub conn: ConnMode,
    /// Logs in with an OAuth2 token rather than a password.
    pub oauth: bool,
}

/// What Microsoft Graph answered, as an admin would name it.
pub fn from_graph(e: &GraphError) -> Problem {
    match (e, e.meaning()) {
        (GraphError::Token(o), _) => oauth_problem(o),
        (_, Meaning::Configuration(Fix::PermissionMissing)) => Problem::GraphPermissionMissing,
        (_, Meaning::Configuration(Fix::SendAsDenied)) => Problem::GraphSendAsDenied,
        (_, Meaning::Configuration(Fix::MailboxUnknown)) => Problem::GraphMailboxUnknown,
        (_, Meaning::Configuration(Fix::TokenRefused)) => Problem::TokenRefused,
        (_, Meaning::RestFor(_) | Meaning::Throttled) => Problem::GraphThrottled,
        (GraphError::Unreachable(_), _) => Problem::ConnectionRefused,
        _ => Problem::Other,
    }
}

/// A failed step of connecting, securing or logging in.
pub fn from_error(e: &UpstreamError, t: &Target) -> Problem {
    match e {
        UpstreamError::Graph(g) => from_graph(g),
        UpstreamError::Resolve { .. } | UpstreamError::Timeout { stage: "DNS" } => {
            Problem::DnsFailed
        }
        UpstreamError::Connect { source, .. } => match source.kind() {
            std::io::ErrorKind::ConnectionRefused => Problem::ConnectionRefused,
            std::io::ErrorKind::TimedOut => Problem::ConnectTimeout,
            _ => Problem::ConnectionRefused,
        },
        UpstreamError::Timeout { stage: "connect" } => Problem::ConnectTimeout,
        // Connected, and the server says nothing: it waits for our TLS handshake.
        UpstreamError::Timeout { stage: "greeting" } if t.conn != ConnMode::SslTls => {
            Problem::PlainOnImplicitTlsPort
        }
        UpstreamError::Tls(msg) => tls_problem(msg, t),
        UpstreamError::Io {
            stage: "TLS handshake",
            ..
        }
        | UpstreamError::Closed {
            stage: "TLS handshake",
        } if t.conn == ConnMode::SslTls => Problem::ImplicitTlsOnPlainPort,
        UpstreamError::StartTlsNotOffered => Problem::StartTlsNotOffered,
        UpstreamError::CredentialsInClear => Problem::CredentialsInClear,
        UpstreamError::MechanismNotOffered(_) => Problem::MechanismNotOffered,
        UpstreamError::AuthFailed(r) => match from_reply("AUTH", r) {
            Problem::BadCredentials | Problem::Other if t.oauth => Problem::TokenRefused,
            p => p,
        },
        UpstreamError::OAuth2(o) => oauth_problem(o),
        UpstreamError::Rejected { stage, reply } => from_reply(stage, reply),
        _ => Problem::Other,
    }
}

fn oauth_problem(o: &crate::oauth2::OAuthError) -> Problem {
    use crate::oauth2::OAuthError as O;
    match o {
        O::GrantRefused { .. } | O::NotLoggedIn { .. } => Problem::GrantMissing,
        O::ClientRefused { .. } => Problem::AppRefused,
        O::Unavailable { .. } | O::Store { .. } => Problem::TokenEndpointDown,
    }
}

fn tls_problem(msg: &str, t: &Target) -> Problem {
    if msg.contains("is not a pinned tls_fingerprint") {
        Problem::FingerprintMismatch
    } else if msg.contains("self-signed certificate") {
        Problem::SelfSignedCertificate
    } else if msg.contains("CaUsedAsEndEntity") {
        Problem::CaAsEndEntity
    } else if msg.contains("NotValidForName") || msg.contains("not valid for name") {
        Problem::CertificateName
    } else if msg.contains("UnknownIssuer") || msg.contains("BadSignature") {
        Problem::UnknownCa
    } else if msg.contains("Expired") {
        Problem::CertificateExpired
    } else if t.conn == ConnMode::SslTls
        && (msg.contains("corrupt message") || msg.contains("InvalidContentType"))
    {
        // A plaintext "220 ..." read as a TLS record.
        Problem::ImplicitTlsOnPlainPort
    } else {
        Problem::TlsFailed
    }
}

/// A refusal at some stage (AUTH, MAIL, RCPT, DATA, end of DATA).
pub fn from_reply(stage: &str, r: &UpReply) -> Problem {
    let text = r.text.to_ascii_lowercase();
    if text.contains("invalid credentials for relay") {
        return Problem::RelayNotAllowed;
    }
    if text.contains("smtp relay limit exceeded") {
        return Problem::RelayLimitExceeded;
    }
    if text.contains("5.7.139") || text.contains("smtpclientauthentication is disabled") {
        return Problem::SmtpAuthDisabled;
    }
    if text.contains("5.7.30") || text.contains("basic authentication is not supported") {
        return Problem::BasicAuthDisabled;
    }
    if text.contains("5.7.9") || text.contains("application-specific password") {
        return Problem::AppPasswordRequired;
    }
    if text.contains("starttls") && r.code == 530 {
        return Problem::StartTlsRequired;
    }
    if text.contains("5.7.60")
        || text.contains("sendasdenied")
        || text.contains("send as this sender")
    {
        return Problem::SendAsDenied;
    }
    match signal::classify(&r.text) {
        Some(Signal::QuotaExceeded) => return Problem::QuotaExceeded,
        Some(Signal::Throttled | Signal::Concurrency | Signal::RestFor(_)) => {
            return Problem::Throttled;
        }
        None => {}
    }
    if stage == "AUTH" && (r.code == 535 || r.code == 534 || text.contains("5.7.8")) {
        return Problem::BadCredentials;
    }
    if r.code == 530 || text.contains("5.7.57") || text.contains("authentication required") {
        return Problem::AuthRequired;
    }
    if text.contains("relay access denied")
        || text.contains("relaying denied")
        || text.contains("5.7.1 relay")
    {
        return Problem::RelayDenied;
    }
    if stage == "RCPT" {
        return Problem::RecipientRefused;
    }
    Problem::Other
}

/// A certificate problem that pinning the server's certificate would solve.
pub fn wants_pin(p: Problem) -> bool {
    matches!(
        p,
        Problem::UnknownCa
            | Problem::SelfSignedCertificate
            | Problem::CaAsEndEntity
            | Problem::FingerprintMismatch
    )
}

/// One sentence on what is wrong and one on what to do, in `lang`.
pub fn explain(p: Problem, t: &Target, lang: Lang) -> (String, String) {
    let hp = format!("{}:{}", t.host, t.port);
    let port = t.port.to_string();
    let args = [("hp", hp.as_str()), ("port", port.as_str())];
    let id = p.message_id();
    (
        catalog::text(lang, &format!("{id}.what"), &args),
        catalog::text(lang, &format!("{id}.fix"), &args),
    )
}

#[cfg(test)]
mod identity_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> UpReply {
        UpReply {
            code: text[..3].parse().unwrap(),
            text: text.into(),
        }
    }

    #[test]
    fn provider_replies_map_to_their_problem() {
        let cases = [
            (
                "AUTH",
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
                Problem::SmtpAuthDisabled,
            ),
            (
                "AUTH",
                "534-5.7.9 Application-specific password required. Learn more at\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor",
                Problem::AppPasswordRequired,
            ),
            (
                "AUTH",
                "535 5.7.8 Error: authentication failed: authentication failure",
                Problem::BadCredentials,
            ),
            (
                "AUTH",
                "535 5.7.3 Authentication unsuccessful",
                Problem::BadCredentials,
            ),
            (
                "MAIL",
                "530 5.7.0 Must issue a STARTTLS command first",
                Problem::StartTlsRequired,
            ),
            (
                "end of DATA",
                "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
                Problem::SendAsDenied,
            ),
            (
                "end of DATA",
                "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
                Problem::QuotaExceeded,
            ),
            (
                "AUTH",
                "550 5.7.30 Basic authentication is not supported for Client Submission.",
                Problem::BasicAuthDisabled,
            ),
            (
                "MAIL",
                "530 5.7.57 Client not authenticated to send mail.",
                Problem::AuthRequired,
            ),
            (
                "RCPT",
                "554 5.7.1 <x@y>: Relay access denied",
                Problem::RelayDenied,
            ),
            ("RCPT", "550 5.1.1 unknown user", Problem::RecipientRefused),
        ];
        for (stage, text, want) in cases {
            assert_eq!(from_reply(stage, &reply(text)), want, "{text}");
        }
    }

    fn target(conn: ConnMode, port: u16) -> Target {
        Target {
            host: "smtp.example.com".into(),
            port,
            conn,
            oauth: false,
        }
    }

    #[test]
    fn a_wrong_port_for_the_tls_mode_is_named_both_ways() {
        let silent = UpstreamError::Timeout { stage: "greeting" };
        assert_eq!(
            from_error(&silent, &target(ConnMode::StartTls, 465)),
            Problem::PlainOnImplicitTlsPort
        );
        let plaintext_as_tls =
            UpstreamError::Tls("received corrupt message of type InvalidContentType".into());
        assert_eq!(
            from_error(&plaintext_as_tls, &target(ConnMode::SslTls, 587)),
            Problem::ImplicitTlsOnPlainPort
        );
    }

    #[test]
    fn certificate_problems_are_told_apart() {
        let t = target(ConnMode::StartTls, 587);
        let name = UpstreamError::Tls("invalid peer certificate: NotValidForName".into());
        let ca = UpstreamError::Tls("invalid peer certificate: UnknownIssuer".into());
        assert_eq!(from_error(&name, &t), Problem::CertificateName);
        assert_eq!(from_error(&ca, &t), Problem::UnknownCa);
    }

    #[test]
    fn refused_and_silent_connections_point_at_the_firewall_or_the_port() {
        let t = target(ConnMode::StartTls, 25);
        let refused = UpstreamError::Connect {
            addr: "x".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(from_error(&refused, &t), Problem::ConnectionRefused);
        let (what, fix) = explain(
            from_error(&UpstreamError::Timeout { stage: "connect" }, &t),
            &t,
            Lang::En,
        );
        assert!(what.contains("port (often 25)"), "{what}");
        assert!(fix.contains("587"), "{fix}");
    }

    #[test]
    fn every_problem_is_explained_in_english_french_and_german() {
        let t = target(ConnMode::Auto, 587);
        for p in Problem::ALL {
            let id = p.message_id();
            for lang in Lang::ALL {
                let ids = catalog::ids(lang);
                for part in ["what", "fix"] {
                    assert!(
                        ids.contains(&format!("{id}.{part}")),
                        "{id}.{part} {lang:?}"
                    );
                }
            }
            let texts: Vec<(String, String)> = Lang::ALL.map(|l| explain(p, &t, l)).into();
            assert_ne!(texts[0], texts[1], "{p:?} French");
            assert_ne!(texts[0], texts[2], "{p:?} German");
        }
    }
}
