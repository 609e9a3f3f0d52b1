//! The client side of SMTP AUTH on our listener (RFC 4954): which mechanisms a session may use,
//! and decoding of PLAIN and LOGIN responses. Pure; the password is checked by the driver.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Whether clients may log in on a session (decided per session from the config and the peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthOffer {
    /// No client accounts: AUTH is not implemented.
    #[default]
    Off,
    /// PLAIN and LOGIN only once the session is encrypted.
    TlsOnly,
    /// Also without TLS (loopback with `allow_plain_auth_on_loopback`).
    AlsoPlaintext,
}

/// Credentials a client sent; `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}, password redacted)", self.username)
    }
}

/// Where an AUTH exchange stands while the client sends responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Plain,
    LoginUser,
    LoginPassword(String),
}

/// A base64 response line (without CRLF) as text; `None` when it is not valid base64 or UTF-8.
pub fn decode(line: &str) -> Option<String> {
    let bytes = B64.decode(line.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// PLAIN: `authzid NUL authcid NUL password`; an authzid other than the user is refused.
pub fn plain(response: &str) -> Option<Login> {
    let mut parts = response.split('\0');
    let (authz, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || user.is_empty() || (!authz.is_empty() && authz != user) {
        return None;
    }
    Some(Login {
        username: user.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses_are_split_and_foreign_authzid_refused() {
        let l = plain("\0payroll\0s3cret").unwrap();
        assert_eq!(
            (l.username.as_str(), l.password.as_str()),
            ("payroll", "s3cret")
        );
        assert!(plain("payroll\0payroll\0x").is_some());
        assert!(plain("boss\0payroll\0x").is_none());
        assert!(plain("nonul").is_none());
        assert!(!format!("{l:?}").contains("s3cret"));
    }
}
