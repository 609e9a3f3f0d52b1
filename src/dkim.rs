//! DKIM signing (RFC 6376, rsa-sha256 and RFC 8463 ed25519-sha256, relaxed/relaxed) of the final
//! message, after every policy rewrite, so the signature covers what the upstream receives. Owns
//! the keys and the DNS record to publish for them; never changes a message except to prepend its
//! `DKIM-Signature:` field, and never signs for a domain the From: header is not in.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::PrivateKeyDer;

pub use crate::config::dkim_key::{Algorithm, Key, KeyError};
use crate::config::{Config, DkimConfig};
use crate::policy::headers;

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A new private key as PKCS#8 PEM.
pub fn generate(algorithm: Algorithm, bits: usize) -> Result<String, DkimError> {
    let der = match algorithm {
        Algorithm::Ed25519 => {
            Ed25519Key::generate_pkcs8().map_err(|e| DkimError::Sign(e.to_string()))?
        }
        Algorithm::Rsa => {
            let size = match bits {
                2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
                other => {
                    return Err(DkimError::Sign(format!(
                        "{other}-bit RSA keys are not offered: use 2048 (the usual), 3072 or 4096"
                    )));
                }
            };
            let pair = aws_lc_rs::rsa::KeyPair::generate(size)
                .map_err(|e| DkimError::Sign(e.to_string()))?;
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                .map_err(|e| DkimError::Sign(e.to_string()))?
                .as_ref()
                .to_vec()
        }
    };
    let body = B64.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

/// Header fields signed when present. From is signed twice (over-signing) so a second From:
/// cannot be added without breaking the signature.
const SIGNED: &[&str] = &[
    "From",
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

enum Inner {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// One signing identity: domain, selector and key, ready to sign.
pub struct Signer {
    pub domain: String,
    pub selector: String,
    key: Key,
    inner: Inner,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Signer(d={}, s={}, {:?})",
            self.domain, self.selector, self.key
        )
    }
}

impl Signer {
    pub fn load(cfg: &DkimConfig) -> Result<Signer, DkimError> {
        Signer::new(&cfg.domain, &cfg.selector, Key::load(&cfg.key_file)?)
    }

    pub fn new(domain: &str, selector: &str, key: Key) -> Result<Signer, DkimError> {
        let domain = domain.to_ascii_lowercase();
        let crypto = |e: mail_auth::Error| DkimError::Sign(e.to_string());
        let inner = match key.algorithm() {
            Algorithm::Rsa => Inner::Rsa(
                DkimSigner::from_key(
                    RsaKey::<Sha256>::from_key_der(key.der.clone_key()).map_err(crypto)?,
                )
                .domain(domain.clone())
                .selector(selector.to_string())
                .headers(SIGNED.iter().copied())
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed),
            ),
            Algorithm::Ed25519 => {
                let PrivateKeyDer::Pkcs8(p8) = &key.der else {
                    return Err(DkimError::Sign("Ed25519 keys come as PKCS#8".into()));
                };
                Inner::Ed25519(
                    DkimSigner::from_key(
                        Ed25519Key::from_pkcs8_maybe_unchecked_der(p8.secret_pkcs8_der())
                            .map_err(crypto)?,
                    )
                    .domain(domain.clone())
                    .selector(selector.to_string())
                    .headers(SIGNED.iter().copied())
                    .header_canonicalization(Canonicalization::Relaxed)
                    .body_canonicalization(Canonicalization::Relaxed),
                )
            }
        };
        Ok(Signer {
            domain,
            selector: selector.to_string(),
            key,
            inner,
        })
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Is the From: address of `message` in this signer's domain (or a subdomain of it)? Signing
    /// anything else would give receivers a signature that does not align for DMARC.
    pub fn covers(&self, message: &[u8]) -> bool {
        let fields = headers::fields(&message[..headers::header_end(message)]);
        let Some(from) = headers::get(&fields, "From") else {
            return false;
        };
        let (_, addr) = crate::policy::rewrite::split_mailbox(&from.value);
        let Some(domain) = addr
            .rsplit_once('@')
            .and_then(|(_, d)| crate::policy::blacklist::domain_ascii(d))
        else {
            return false;
        };
        domain == self.domain || domain.ends_with(&format!(".{}", self.domain))
    }

    /// The `DKIM-Signature:` field (CRLF-terminated) for `message`.
    pub fn signature(&self, message: &[u8]) -> Result<String, DkimError> {
        let sig = match &self.inner {
            Inner::Rsa(s) => s.sign(message),
            Inner::Ed25519(s) => s.sign(message),
        }
        .map_err(|e| DkimError::Sign(e.to_string()))?;
        Ok(sig.to_header())
    }

    /// `message` with its signature prepended.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DkimError> {
        let sig = self.signature(message)?;
        let mut out = Vec::with_capacity(sig.len() + message.len());
        out.extend_from_slice(sig.as_bytes());
        out.extend_from_slice(message);
        Ok(out)
    }

    /// The message without the `DKIM-Signature:` this relay put in its header for this signer
    /// (its domain and selector), to sign again after a change; any other signature is left as
    /// it is. Borrowed when there was none.
    pub fn strip_own<'a>(&self, message: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let fields = headers::fields(message);
        let ours = fields.iter().find(|f| {
            if !f.name.eq_ignore_ascii_case("DKIM-Signature") {
                return false;
            }
            let tags: Vec<(String, String)> = f
                .value
                .split(';')
                .filter_map(|t| {
                    let (k, v) = t.split_once('=')?;
                    Some((k.trim().to_string(), v.split_whitespace().collect()))
                })
                .collect();
            let tag = |k: &str| tags.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            tag("d").is_some_and(|d| d.eq_ignore_ascii_case(&self.domain))
                && tag("s") == Some(self.selector.as_str())
        });
        let Some(field) = ours else {
            return message.into();
        };
        let mut out = message[..field.span.start].to_vec();
        out.extend_from_slice(&message[field.span.end..]);
        out.into()
    }
}

/// The signers in force: the global `[dkim]` and each upstream's own.
#[derive(Debug, Default)]
pub struct Signers {
    global: Option<Arc<Signer>>,
    per_upstream: HashMap<String, Arc<Signer>>,
}

impl Signers {
    pub fn load(config: &Config) -> Result<Signers, DkimError> {
        let global = config
            .dkim
            .as_ref()
            .map(Signer::load)
            .transpose()?
            .map(Arc::new);
        let mut per_upstream = HashMap::new();
        for u in &config.upstreams {
            if let Some(d) = &u.dkim {
                per_upstream.insert(u.name.clone(), Arc::new(Signer::load(d)?));
            }
        }
        Ok(Signers {
            global,
            per_upstream,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.global.is_none() && self.per_upstream.is_empty()
    }

    /// The signer for mail carried by `upstream`: its own, else the global one.
    /// The signer of `upstream`, shared.
    pub fn shared(&self, upstream: &str) -> Option<Arc<Signer>> {
        self.per_upstream
            .get(upstream)
            .or(self.global.as_ref())
            .cloned()
    }

    pub fn for_upstream(&self, upstream: Option<&str>) -> Option<&Signer> {
        upstream
            .and_then(|u| self.per_upstream.get(u))
            .or(self.global.as_ref())
            .map(|s| s.as_ref())
    }

    /// Every signer with where it applies (`None`: the global one), for `dkim check`.
    pub fn all(&self) -> Vec<(Option<&str>, &Signer)> {
        let mut v: Vec<(Option<&str>, &Signer)> =
            self.global.iter().map(|s| (None, s.as_ref())).collect();
        let mut named: Vec<_> = self
            .per_upstream
            .iter()
            .map(|(n, s)| (Some(n.as_str()), s.as_ref()))
            .collect();
        named.sort_by_key(|(n, _)| *n);
        v.extend(named);
        v
    }
}

#[cfg(test)]
mod tests;
