//! The client side of SMTP AUTH on our listener (RFC 4954): which mechanisms a session may use,
//! and decoding of PLAIN, LOGIN and CRAM-MD5 responses. Pure; the password is checked by the driver.

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
    /// Also without TLS (loopback, unless `allow_plain_auth_on_loopback = false`).
    AlsoPlaintext,
}

/// How a session from `peer` may log in: not at all without accounts (unless any login is
/// accepted), in plain text from loopback (a program on the relay's own machine: there is no
/// network to protect) unless `allow_plain_auth_on_loopback = false`, and only after STARTTLS
/// from any other address.
pub fn offer(
    policy: &crate::config::AuthPolicy,
    accounts: bool,
    peer: std::net::IpAddr,
) -> AuthOffer {
    if !accounts && !policy.accept_any {
        AuthOffer::Off
    } else if policy.plain_on_loopback && peer.is_loopback() {
        AuthOffer::AlsoPlaintext
    } else {
        AuthOffer::TlsOnly
    }
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
    CramMd5,
}

/// A base64 response line (without CRLF) as text; `None` when it is not valid base64 or UTF-8.
pub fn decode(line: &str) -> Option<String> {
    let bytes = B64.decode(line.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// Base64 of a challenge.
pub fn encode(text: &str) -> String {
    B64.encode(text)
}

/// CRAM-MD5 (RFC 2195): the name of `name SP 32-hex-digest`; `None` when it is not that.
pub fn cram_md5_name(response: &str) -> Option<String> {
    let (name, digest) = response.rsplit_once(' ')?;
    let hex = digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !name.is_empty()).then(|| name.to_string())
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

    fn policy(server: &str, accounts: bool) -> crate::config::AuthPolicy {
        let client = format!(
            "[[client]]\nname = \"payroll\"\npassword_hash = \"{}\"\n",
            crate::config::hash_password("x")
        );
        let text = format!(
            "[server]\n{server}\n{}[[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"o\"\n",
            if accounts { client.as_str() } else { "" }
        );
        let c = crate::config::Config::load(&text, std::path::Path::new("t.toml")).unwrap();
        c.server.auth
    }

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_text_auth_is_offered_on_loopback_by_default_and_never_from_elsewhere() {
        let p = policy("", true);
        assert_eq!(offer(&p, true, ip("127.0.0.1")), AuthOffer::AlsoPlaintext);
        assert_eq!(offer(&p, true, ip("::1")), AuthOffer::AlsoPlaintext);
        assert_eq!(offer(&p, true, ip("192.168.1.20")), AuthOffer::TlsOnly);
        let off = policy("allow_plain_auth_on_loopback = false", true);
        assert_eq!(offer(&off, true, ip("127.0.0.1")), AuthOffer::TlsOnly);
    }

    #[test]
    fn without_accounts_any_login_is_offered_by_default_and_can_be_turned_off() {
        let p = policy("", false);
        assert!(p.accept_any);
        assert_eq!(offer(&p, false, ip("127.0.0.1")), AuthOffer::AlsoPlaintext);
        let off = policy("accept_any_login = false", false);
        assert_eq!(offer(&off, false, ip("127.0.0.1")), AuthOffer::Off);
        assert!(!policy("", true).accept_any, "accounts are always checked");
    }

    #[test]
    fn cram_md5_responses_give_the_name() {
        let digest = "b913a602c7eda7a495b4e6e7334d3890";
        assert_eq!(
            cram_md5_name(&format!("tim {digest}")).as_deref(),
            Some("tim")
        );
        assert_eq!(cram_md5_name("tim short"), None);
    }

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
