//! SASL client exchanges upstream (RFC 4954): PLAIN, LOGIN, CRAM-MD5, NTLM and XOAUTH2, and the
//! choice of mechanism for `auth = "auto"`. Secrets are read here, used, and never logged; the
//! caller decides whether the connection is safe enough to authenticate at all.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};

use super::client::{Conn, UpReply};
use super::error::UpstreamError;
use crate::config::{AuthMode, Credentials};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
    CramMd5,
    Ntlm,
    Xoauth2,
    /// RFC 7628.
    OAuthBearer,
}

impl Mechanism {
    /// Presents an OAuth2 access token instead of a password.
    pub fn is_oauth(self) -> bool {
        matches!(self, Mechanism::Xoauth2 | Mechanism::OAuthBearer)
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Ntlm => "NTLM",
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// Preference for `auto`: challenge-response first (the password never crosses the wire), then
/// PLAIN (one round trip), then LOGIN. XOAUTH2 needs a token, not a password: never guessed.
const AUTO_ORDER: [Mechanism; 4] = [
    Mechanism::CramMd5,
    Mechanism::Ntlm,
    Mechanism::Plain,
    Mechanism::Login,
];

/// Which mechanism to use, or `None` for no AUTH at all. With an OAuth2 grant (`oauth`), `auto`
/// means XOAUTH2, else OAUTHBEARER: a token is all there is to present.
pub fn choose(
    mode: AuthMode,
    offered: &[String],
    creds: Option<&Credentials>,
    oauth: bool,
) -> Result<Option<Mechanism>, UpstreamError> {
    let explicit = match mode {
        AuthMode::None => return Ok(None),
        AuthMode::Auto if oauth => {
            return [Mechanism::Xoauth2, Mechanism::OAuthBearer]
                .into_iter()
                .find(|m| offered.iter().any(|o| o == m.name()))
                .map(Some)
                .ok_or(UpstreamError::MechanismNotOffered("XOAUTH2 or OAUTHBEARER"));
        }
        AuthMode::Auto => {
            if creds.is_none() || offered.is_empty() {
                return Ok(None);
            }
            return Ok(AUTO_ORDER
                .into_iter()
                .find(|m| offered.iter().any(|o| o == m.name())));
        }
        AuthMode::Plain => Mechanism::Plain,
        AuthMode::Login => Mechanism::Login,
        AuthMode::CramMd5 => Mechanism::CramMd5,
        AuthMode::Ntlm => Mechanism::Ntlm,
        AuthMode::Xoauth2 => Mechanism::Xoauth2,
        AuthMode::OAuthBearer => Mechanism::OAuthBearer,
    };
    if creds.is_none() {
        return Err(UpstreamError::NoCredentials(explicit.name()));
    }
    if !offered.iter().any(|o| o == explicit.name()) {
        return Err(UpstreamError::MechanismNotOffered(explicit.name()));
    }
    Ok(Some(explicit))
}

/// The server as OAUTHBEARER names it (RFC 7628 section 3.1: `host` and `port`).
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    pub host: &'a str,
    pub port: u16,
}

/// Runs one AUTH exchange. `token` is the OAuth2 access token for XOAUTH2/OAUTHBEARER when the
/// upstream has a grant; otherwise the secret is read from where the config says.
pub async fn authenticate(
    conn: &mut Conn,
    mech: Mechanism,
    creds: &Credentials,
    token: Option<&str>,
    server: Server<'_>,
) -> Result<(), UpstreamError> {
    let secret = match token {
        Some(t) if mech.is_oauth() => t.to_string(),
        _ => creds
            .secret
            .reveal()
            .map_err(|e| UpstreamError::Secret(e.to_string()))?,
    };
    let result = exchange(conn, mech, creds.username.as_str(), &secret, server).await;
    // The reply may echo what was sent (the secret in base64); it is logged and queued.
    result.map_err(|e| match e {
        UpstreamError::AuthFailed(r) => UpstreamError::AuthFailed(UpReply {
            code: r.code,
            text: super::redact::reply_text(&r.text, &secret),
        }),
        other => other,
    })
}

/// The AUTH commands of `mech` and the server's replies, up to the final one.
async fn exchange(
    conn: &mut Conn,
    mech: Mechanism,
    user: &str,
    secret: &str,
    server: Server<'_>,
) -> Result<(), UpstreamError> {
    let last = match mech {
        Mechanism::Plain => {
            let blob = B64.encode(format!("\0{user}\0{secret}"));
            conn.command(&format!("AUTH PLAIN {blob}"), "AUTH").await?
        }
        Mechanism::Login => {
            expect_challenge(conn.command("AUTH LOGIN", "AUTH").await?)?;
            expect_challenge(conn.command(&B64.encode(user), "AUTH").await?)?;
            conn.command(&B64.encode(secret), "AUTH").await?
        }
        Mechanism::CramMd5 => {
            let challenge = expect_challenge(conn.command("AUTH CRAM-MD5", "AUTH").await?)?;
            let challenge = B64
                .decode(challenge.trim())
                .map_err(|_| bad_challenge("CRAM-MD5"))?;
            conn.command(
                &B64.encode(cram_md5_response(user, secret, &challenge)),
                "AUTH",
            )
            .await?
        }
        Mechanism::Ntlm => {
            let (domain, name) = split_domain(user);
            let negotiate = ntlm_negotiate()?;
            let challenge = expect_challenge(
                conn.command(&format!("AUTH NTLM {}", B64.encode(negotiate)), "AUTH")
                    .await?,
            )?;
            let challenge = B64
                .decode(challenge.trim())
                .map_err(|_| bad_challenge("NTLM"))?;
            let answer = ntlm_authenticate(&challenge, name, domain, secret)?;
            conn.command(&B64.encode(answer), "AUTH").await?
        }
        Mechanism::Xoauth2 | Mechanism::OAuthBearer => {
            let initial = if mech == Mechanism::Xoauth2 {
                xoauth2_initial(user, secret)
            } else {
                oauthbearer_initial(user, server, secret)
            };
            let r = conn
                .command(
                    &format!("AUTH {} {}", mech.name(), B64.encode(initial)),
                    "AUTH",
                )
                .await?;
            if r.code == 334 {
                // The server sent a JSON error status as a challenge; RFC 7628 says answer it
                // with an empty line and then read the final failure.
                conn.command("", "AUTH").await?
            } else {
                r
            }
        }
    };
    if last.code == 235 {
        Ok(())
    } else {
        Err(UpstreamError::AuthFailed(last))
    }
}

fn expect_challenge(r: UpReply) -> Result<String, UpstreamError> {
    if r.code == 334 {
        Ok(r.payload())
    } else {
        Err(UpstreamError::AuthFailed(r))
    }
}

fn bad_challenge(mech: &str) -> UpstreamError {
    UpstreamError::Protocol {
        stage: "AUTH",
        detail: format!("malformed {mech} challenge"),
    }
}

/// RFC 2195: `user SP hex(HMAC-MD5(secret, challenge))`.
pub fn cram_md5_response(user: &str, secret: &str, challenge: &[u8]) -> String {
    let mut mac =
        Hmac::<md5::Md5>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(challenge);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{user} {hex}")
}

pub fn xoauth2_initial(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// RFC 7628 section 3.1: a GS2 header naming the user, then `host`, `port` and `auth`.
pub fn oauthbearer_initial(user: &str, server: Server<'_>, token: &str) -> String {
    // RFC 5801: ',' and '=' in the authzid are escaped.
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!(
        "n,a={user},\x01host={}\x01port={}\x01auth=Bearer {token}\x01\x01",
        server.host, server.port
    )
}

/// `DOMAIN\user` or `user@domain` → (domain, user); NTLM wants them apart.
fn split_domain(user: &str) -> (&str, &str) {
    match user.split_once('\\') {
        Some((d, u)) => (d, u),
        None => ("", user),
    }
}

fn workstation() -> String {
    "SMARTHOST".into()
}

pub fn ntlm_negotiate() -> Result<Vec<u8>, UpstreamError> {
    let flags = ntlmclient::Flags::NEGOTIATE_UNICODE
        | ntlmclient::Flags::REQUEST_TARGET
        | ntlmclient::Flags::NEGOTIATE_NTLM
        | ntlmclient::Flags::NEGOTIATE_WORKSTATION_SUPPLIED;
    ntlmclient::Message::Negotiate(ntlmclient::NegotiateMessage {
        flags,
        supplied_domain: String::new(),
        supplied_workstation: workstation(),
        os_version: Default::default(),
    })
    .to_bytes()
    .map_err(|e| UpstreamError::Protocol {
        stage: "AUTH",
        detail: format!("NTLM negotiate: {e:?}"),
    })
}

/// NTLMv2 answer to a type-2 challenge.
pub fn ntlm_authenticate(
    challenge: &[u8],
    user: &str,
    domain: &str,
    password: &str,
) -> Result<Vec<u8>, UpstreamError> {
    let msg = ntlmclient::Message::try_from(challenge).map_err(|_| bad_challenge("NTLM"))?;
    let ntlmclient::Message::Challenge(c) = msg else {
        return Err(bad_challenge("NTLM"));
    };
    let target_info: Vec<u8> = c
        .target_information
        .iter()
        .flat_map(|t| t.to_bytes())
        .collect();
    let creds = ntlmclient::Credentials {
        username: user.into(),
        password: password.into(),
        domain: domain.into(),
    };
    let response = ntlmclient::respond_challenge_ntlm_v2(
        c.challenge,
        &target_info,
        ntlmclient::get_ntlm_time(),
        &creds,
    );
    let flags = ntlmclient::Flags::NEGOTIATE_UNICODE | ntlmclient::Flags::NEGOTIATE_NTLM;
    response
        .to_message(&creds, &workstation(), flags)
        .to_bytes()
        .map_err(|e| UpstreamError::Protocol {
            stage: "AUTH",
            detail: format!("NTLM authenticate: {e:?}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: "u".into(),
            secret: crate::config::Secret::Inline("p".into()),
        }
    }

    fn offered(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cram_md5_matches_the_rfc_2195_example() {
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        assert_eq!(
            cram_md5_response("tim", "tanstaaftanstaaf", challenge),
            "tim b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn auto_prefers_challenge_response_then_plain_then_login() {
        let c = creds();
        assert_eq!(
            choose(
                AuthMode::Auto,
                &offered(&["LOGIN", "PLAIN", "CRAM-MD5"]),
                Some(&c),
                false
            )
            .unwrap(),
            Some(Mechanism::CramMd5)
        );
        assert_eq!(
            choose(
                AuthMode::Auto,
                &offered(&["LOGIN", "PLAIN"]),
                Some(&c),
                false
            )
            .unwrap(),
            Some(Mechanism::Plain)
        );
        assert_eq!(
            choose(AuthMode::Auto, &offered(&["LOGIN"]), Some(&c), false).unwrap(),
            Some(Mechanism::Login)
        );
    }

    #[test]
    fn auto_uses_no_auth_when_the_server_offers_none() {
        assert_eq!(
            choose(AuthMode::Auto, &[], Some(&creds()), false).unwrap(),
            None
        );
    }

    #[test]
    fn explicit_mechanism_not_offered_is_an_error() {
        let e = choose(
            AuthMode::CramMd5,
            &offered(&["PLAIN"]),
            Some(&creds()),
            false,
        )
        .unwrap_err();
        assert!(matches!(e, UpstreamError::MechanismNotOffered("CRAM-MD5")));
    }

    #[test]
    fn auto_with_an_oauth2_grant_picks_xoauth2_then_oauthbearer_never_a_password() {
        let all = offered(&["LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"]);
        let c = creds();
        assert_eq!(
            choose(AuthMode::Auto, &all, Some(&c), true).unwrap(),
            Some(Mechanism::Xoauth2)
        );
        assert_eq!(
            choose(
                AuthMode::Auto,
                &offered(&["LOGIN", "OAUTHBEARER"]),
                Some(&c),
                true
            )
            .unwrap(),
            Some(Mechanism::OAuthBearer)
        );
        assert!(matches!(
            choose(
                AuthMode::Auto,
                &offered(&["LOGIN", "PLAIN"]),
                Some(&c),
                true
            ),
            Err(UpstreamError::MechanismNotOffered(_))
        ));
    }

    #[test]
    fn oauthbearer_initial_response_has_the_rfc_7628_format() {
        let server = Server {
            host: "smtp.office365.com",
            port: 587,
        };
        assert_eq!(
            oauthbearer_initial("a@b", server, "tok"),
            "n,a=a@b,\x01host=smtp.office365.com\x01port=587\x01auth=Bearer tok\x01\x01"
        );
        assert!(oauthbearer_initial("a=b,c@d", server, "t").starts_with("n,a=a=3Db=2Cc@d,"));
    }

    #[test]
    fn xoauth2_initial_response_has_the_google_format() {
        assert_eq!(
            xoauth2_initial("a@b", "tok"),
            "user=a@b\x01auth=Bearer tok\x01\x01"
        );
    }

    /// NTLM negotiate against the MS-NLMP layout: signature, type 1, the flags we ask for.
    #[test]
    fn ntlm_negotiate_message_has_the_ms_nlmp_layout() {
        let m = ntlm_negotiate().unwrap();
        assert_eq!(&m[..8], b"NTLMSSP\0");
        assert_eq!(u32::from_le_bytes(m[8..12].try_into().unwrap()), 1);
        let flags = u32::from_le_bytes(m[12..16].try_into().unwrap());
        assert_eq!(
            flags & 0x0000_0201,
            0x0000_0201,
            "UNICODE and NTLM must be requested"
        );
    }

    /// The MS-NLMP 4.2.4 test vector: the NTLMv2 hash of User/Domain/Password.
    #[test]
    fn ntlm_v2_response_uses_the_ms_nlmp_key_derivation() {
        // Build a challenge message the way a server would (MS-NLMP 4.2.4.3 server challenge).
        let challenge = ntlm_test_challenge([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        let answer = ntlm_authenticate(&challenge, "User", "Domain", "Password").unwrap();
        let msg = ntlmclient::Message::try_from(answer.as_slice()).unwrap();
        let ntlmclient::Message::Authenticate(a) = msg else {
            panic!("not an authenticate message")
        };
        assert_eq!(a.user_name, "User");
        assert_eq!(a.domain_name, "Domain");
        // NTProofStr = HMAC-MD5(NTOWFv2, server_challenge || blob); check it with the published key.
        let ntowf_v2: [u8; 16] = [
            0x0c, 0x86, 0x8a, 0x40, 0x3b, 0xfd, 0x7a, 0x93, 0xa3, 0x00, 0x1e, 0xf2, 0x2e, 0xf0,
            0x2e, 0x3f,
        ];
        let (proof, blob) = a.ntlm_response.split_at(16);
        let mut mac = Hmac::<md5::Md5>::new_from_slice(&ntowf_v2).unwrap();
        mac.update(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        mac.update(blob);
        assert_eq!(proof, mac.finalize().into_bytes().as_slice());
    }

    pub(crate) fn ntlm_test_challenge(server_challenge: [u8; 8]) -> Vec<u8> {
        ntlmclient::Message::Challenge(ntlmclient::ChallengeMessage {
            target_name: "Domain".into(),
            flags: ntlmclient::Flags::NEGOTIATE_UNICODE | ntlmclient::Flags::NEGOTIATE_NTLM,
            challenge: server_challenge,
            context: (0, 0),
            target_information: Vec::new(),
            os_version: Default::default(),
        })
        .to_bytes()
        .unwrap()
    }
}
