//! The client assertion of RFC 7523 section 2.2 (client authentication with a JWT, RFC 7521):
//! signed with the key of `[upstream.oauth2] client_certificate`, sent instead of a client
//! secret. One fresh assertion per token request: `aud` = the token URL, `iss` = `sub` =
//! the client id, a random `jti`, `nbf`/`iat` now and `exp` five minutes later; the header
//! names the certificate by its SHA-256 thumbprint (`x5t#S256`). Signing is `jsonwebtoken`'s.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::config::{CertCredential, OAuth2Config};

/// The `client_assertion_type` that goes with it.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an assertion is valid: well under the 10 minutes Microsoft accepts.
const LIFETIME_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("cannot read the key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("cannot sign the client assertion: {0}")]
    Sign(String),
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// A signed assertion for one token request, `now` in seconds since the epoch.
pub fn sign(cfg: &OAuth2Config, cred: &CertCredential, now: i64) -> Result<String, AssertionError> {
    let key_err = |reason: String| AssertionError::Key {
        path: cred.key.display().to_string(),
        reason,
    };
    // Read at each request (once per token lifetime): a renewed certificate needs no restart.
    let pem = std::fs::read(&cred.key).map_err(|e| key_err(e.to_string()))?;
    let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| key_err(e.to_string()))?;
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.x5t_s256 =
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cred.thumbprint.0));
    let claims = Claims {
        aud: &cfg.token_url,
        iss: &cfg.client_id,
        sub: &cfg.client_id,
        jti: format!("{:032x}", rand::random::<u128>()),
        nbf: now,
        iat: now,
        exp: now + LIFETIME_SECS,
    };
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| AssertionError::Sign(e.to_string()))
}
