//! Why a conversation with an upstream failed, and what that means for the mail: which scope it
//! touches (the whole connection, this message, one recipient) and whether it is worth retrying.

use super::reply::UpReply;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("timed out during {stage}")]
    Timeout { stage: &'static str },
    #[error("connection lost during {stage}: {source}")]
    Io {
        stage: &'static str,
        source: std::io::Error,
    },
    #[error("connection closed by the server during {stage}")]
    Closed { stage: &'static str },
    #[error("protocol error during {stage}: {detail}")]
    Protocol { stage: &'static str, detail: String },
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    #[error("conn = starttls but the server does not offer STARTTLS")]
    StartTlsNotOffered,
    #[error(
        "refusing to send credentials over an unencrypted connection (set conn = \"plaintext\" to allow it)"
    )]
    CredentialsInClear,
    #[error("the server does not offer AUTH {0}")]
    MechanismNotOffered(&'static str),
    #[error("authentication required by auth = \"{0}\" but no credentials are configured")]
    NoCredentials(&'static str),
    #[error("credentials: {0}")]
    Secret(String),
    #[error("authentication failed: {0}")]
    AuthFailed(UpReply),
    #[error("{0}")]
    OAuth2(#[from] crate::oauth2::OAuthError),
    #[error("{0}")]
    Local(String),
    #[error("{stage} refused: {reply}")]
    Rejected { stage: &'static str, reply: UpReply },
    #[error("{0}")]
    Graph(#[from] crate::graph::GraphError),
    /// Every recipient refused with "relay access denied": the upstream does not accept this
    /// relay as a client (its certificate, address or login).
    #[error(
        "the upstream refuses to relay for us ({0}): check tls_client_cert, the connector or the allowed addresses at the provider"
    )]
    RelayRefused(String),
}

/// A RCPT refusal that means "not you" rather than "not this recipient": Postfix's `Relay access
/// denied`, Exchange's `5.7.64 TenantAttribution`, Google's `Invalid credentials for relay`.
pub fn is_relay_refusal(r: &super::RcptResult) -> bool {
    let super::RcptResult::Failed(text) = r else {
        return false;
    };
    let t = text.to_ascii_lowercase();
    t.contains("relay access denied")
        || t.contains("5.7.64")
        || t.contains("invalid credentials for relay")
}

/// How far a failure reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Nothing can go over this connection (or any connection to this upstream right now).
    Connection,
    /// This message, all its recipients.
    Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permanence {
    Temporary,
    Permanent,
}

impl UpstreamError {
    /// Connection-level problems, including authentication and TLS, are always temporary here:
    /// they are configuration or network trouble, and the mail must wait, never bounce.
    pub fn classify(&self) -> (Scope, Permanence) {
        match self {
            UpstreamError::Rejected {
                stage: "MAIL" | "DATA" | "end of DATA",
                reply,
            } => {
                let p = if reply.is_permanent() {
                    Permanence::Permanent
                } else {
                    Permanence::Temporary
                };
                (Scope::Message, p)
            }
            _ => (Scope::Connection, Permanence::Temporary),
        }
    }

    /// The server could not be reached or did not start a conversation: the case for a
    /// fallback upstream (a refusal of a recipient or of the login is not).
    pub fn is_unreachable(&self) -> bool {
        match self {
            UpstreamError::Resolve { .. }
            | UpstreamError::Connect { .. }
            | UpstreamError::Tls(_) => true,
            UpstreamError::Timeout { stage }
            | UpstreamError::Closed { stage }
            | UpstreamError::Io { stage, .. } => {
                matches!(
                    *stage,
                    "DNS" | "connect" | "greeting" | "TLS handshake" | "EHLO" | "HELO"
                )
            }
            UpstreamError::Rejected {
                stage: "greeting", ..
            } => true,
            UpstreamError::Graph(crate::graph::GraphError::Unreachable(_)) => true,
            _ => false,
        }
    }

    /// The server's reply behind this error, if it was a reply.
    pub fn reply(&self) -> Option<&UpReply> {
        match self {
            UpstreamError::Rejected { reply, .. } | UpstreamError::AuthFailed(reply) => Some(reply),
            _ => None,
        }
    }

    /// How long the provider asked this upstream to rest (Graph's `Retry-After`).
    pub fn rest_for(&self) -> Option<std::time::Duration> {
        match self {
            UpstreamError::Graph(e) => match e.meaning() {
                crate::graph::error::Meaning::RestFor(d) => Some(d),
                _ => None,
            },
            _ => None,
        }
    }

    /// A provider's "slow down" that came without a duration (Graph's `429` alone).
    pub fn is_throttled(&self) -> bool {
        matches!(self, UpstreamError::Graph(e) if e.meaning() == crate::graph::error::Meaning::Throttled)
    }

    /// Problems an admin must fix in the configuration or at the provider.
    pub fn is_configuration_problem(&self) -> bool {
        if let UpstreamError::Graph(e) = self {
            return matches!(e.meaning(), crate::graph::error::Meaning::Configuration(_));
        }
        matches!(
            self,
            UpstreamError::AuthFailed(_)
                | UpstreamError::StartTlsNotOffered
                | UpstreamError::CredentialsInClear
                | UpstreamError::MechanismNotOffered(_)
                | UpstreamError::NoCredentials(_)
                | UpstreamError::Secret(_)
                | UpstreamError::TlsConfig(_)
                | UpstreamError::RelayRefused(_)
        ) || matches!(self, UpstreamError::OAuth2(e) if !matches!(e, crate::oauth2::OAuthError::Unavailable { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16) -> UpReply {
        UpReply {
            code,
            text: format!("{code} x"),
        }
    }

    #[test]
    fn authentication_failure_is_temporary_and_a_configuration_problem() {
        let e = UpstreamError::AuthFailed(reply(535));
        assert_eq!(e.classify(), (Scope::Connection, Permanence::Temporary));
        assert!(e.is_configuration_problem());
    }

    #[test]
    fn permanent_data_rejection_fails_the_message() {
        let e = UpstreamError::Rejected {
            stage: "end of DATA",
            reply: reply(554),
        };
        assert_eq!(e.classify(), (Scope::Message, Permanence::Permanent));
        let e = UpstreamError::Rejected {
            stage: "MAIL",
            reply: reply(451),
        };
        assert_eq!(e.classify(), (Scope::Message, Permanence::Temporary));
    }
}
