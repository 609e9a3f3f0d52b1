//! What Microsoft Graph answered, and what that means for the mail (the documented contract:
//! "Microsoft Graph error responses and resource types", "Microsoft Graph throttling
//! guidance"). Imports nothing from the rest of the relay but the OAuth2 error.

use std::time::Duration;

use crate::oauth2::OAuthError;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// No HTTP answer: DNS, connect, TLS, timeout, a dropped connection.
    #[error("cannot reach Microsoft Graph: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Token(#[from] OAuthError),
    /// An HTTP error status with Graph's error body.
    #[error("Microsoft Graph answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Our own side: a message Graph cannot take as it is, a state file that cannot be kept.
    #[error("{0}")]
    Local(String),
}

/// What the relay does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// `429`/`503` with `Retry-After`: the upstream rests that long; no attempt is counted.
    RestFor(Duration),
    /// `429` without `Retry-After`: a provider pause of the usual length.
    Throttled,
    /// The app, its permission or the mailbox is wrong: mail waits until the admin fixes it.
    Configuration(Fix),
    /// `400`: this message cannot be sent as it is; it bounces with Graph's text.
    Malformed,
    /// Anything else: tried again on the retry schedule.
    Temporary,
}

/// The configuration problems Graph reports, each with its own fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// `403 ErrorAccessDenied`: no `Mail.Send` application permission, no admin consent, or an
    /// application access policy that leaves this mailbox out.
    PermissionMissing,
    /// `403 ErrorSendAsDenied`: the app may not send as this sender.
    SendAsDenied,
    /// `404 ErrorInvalidUser`, `MailboxNotEnabledForRESTAPI`: no such (cloud) mailbox.
    MailboxUnknown,
    /// `401` again after a fresh token: the token is not for Graph (scope, tenant).
    TokenRefused,
}

impl Fix {
    /// The catalog message that explains it.
    pub fn code(self) -> &'static str {
        match self {
            Fix::PermissionMissing => "graph_permission_missing",
            Fix::SendAsDenied => "graph_send_as_denied",
            Fix::MailboxUnknown => "graph_mailbox_unknown",
            Fix::TokenRefused => "token_refused",
        }
    }
}

impl GraphError {
    pub fn meaning(&self) -> Meaning {
        match self {
            GraphError::Refused {
                status,
                code,
                retry_after,
                ..
            } => refused(*status, code, *retry_after),
            GraphError::Token(OAuthError::Unavailable { .. }) => Meaning::Temporary,
            GraphError::Token(_) => Meaning::Configuration(Fix::TokenRefused),
            GraphError::Unreachable(_) | GraphError::Local(_) => Meaning::Temporary,
        }
    }

    /// The status and code, as a reply line for logs, the queue and bounces.
    pub fn reply(&self) -> String {
        match self {
            GraphError::Refused {
                status,
                code,
                message,
                ..
            } => format!("{status} {code}: {message}"),
            other => other.to_string(),
        }
    }
}

fn refused(status: u16, code: &str, retry_after: Option<Duration>) -> Meaning {
    match (status, code) {
        (429 | 503, _) if retry_after.is_some() => {
            Meaning::RestFor(retry_after.unwrap_or_default())
        }
        (429, _) => Meaning::Throttled,
        (403, "ErrorSendAsDenied") => Meaning::Configuration(Fix::SendAsDenied),
        (403, _) => Meaning::Configuration(Fix::PermissionMissing),
        (404, _) => Meaning::Configuration(Fix::MailboxUnknown),
        (401, _) => Meaning::Configuration(Fix::TokenRefused),
        (400, _) => Meaning::Malformed,
        _ => Meaning::Temporary,
    }
}

/// `Retry-After` in seconds (Graph sends seconds; an HTTP date is read as "a minute").
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    let v = value?.trim();
    match v.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs.min(24 * 3600))),
        Err(_) if !v.is_empty() => Some(Duration::from_secs(60)),
        Err(_) => None,
    }
}

/// Graph's error body: `{"error": {"code": "...", "message": "..."}}`; anything else is kept
/// as text, cut short and without control characters.
pub fn from_body(status: u16, body: &[u8], retry_after: Option<Duration>) -> GraphError {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let (code, message) = match serde_json::from_slice::<Body>(body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (String::new(), String::from_utf8_lossy(body).into_owned()),
    };
    GraphError::Refused {
        status,
        code: clean(&code, 80),
        message: clean(&message, 300),
        retry_after,
    }
}

/// One line of printable text: what a hostile or broken service says never reaches a log or a
/// bounce with control characters in it.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str, after: Option<u64>) -> GraphError {
        GraphError::Refused {
            status,
            code: code.into(),
            message: String::new(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn graph_statuses_map_to_the_outcome_rules() {
        let cases = [
            (
                err(429, "ApplicationThrottled", Some(30)),
                Meaning::RestFor(Duration::from_secs(30)),
            ),
            (
                err(503, "ServiceUnavailable", Some(5)),
                Meaning::RestFor(Duration::from_secs(5)),
            ),
            (err(429, "TooManyRequests", None), Meaning::Throttled),
            (err(503, "ServiceUnavailable", None), Meaning::Temporary),
            (
                err(403, "ErrorAccessDenied", None),
                Meaning::Configuration(Fix::PermissionMissing),
            ),
            (
                err(403, "ErrorSendAsDenied", None),
                Meaning::Configuration(Fix::SendAsDenied),
            ),
            (
                err(404, "ErrorInvalidUser", None),
                Meaning::Configuration(Fix::MailboxUnknown),
            ),
            (
                err(404, "MailboxNotEnabledForRESTAPI", None),
                Meaning::Configuration(Fix::MailboxUnknown),
            ),
            (err(400, "ErrorInvalidRecipients", None), Meaning::Malformed),
            (err(500, "InternalServerError", None), Meaning::Temporary),
        ];
        for (e, want) in cases {
            assert_eq!(e.meaning(), want, "{e}");
        }
    }

    #[test]
    fn an_error_body_is_read_for_code_and_message_without_control_characters() {
        let body = br#"{"error":{"code":"ErrorSendAsDenied","message":"no\r\nX-Injected: 1"}}"#;
        let e = from_body(403, body, None);
        assert_eq!(e.reply(), "403 ErrorSendAsDenied: no  X-Injected: 1");
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(retry_after(Some("17")), Some(Duration::from_secs(17)));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after(None), None);
    }
}
