//! A DKIM private key, read and checked when the configuration loads, so a bad key is an error
//! with its file, line and key. Only the key material and its public half in DNS form; the
//! signing is `crate::dkim`'s.

use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the DKIM key {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "{path} is not a PEM private key smarthost can sign with (RSA in PKCS#1 or PKCS#8, or \
         Ed25519 in PKCS#8; `smarthost dkim keygen` writes one): {reason}"
    )]
    Format { path: String, reason: String },
    #[error(
        "RSA keys shorter than 1024 bits are refused by receivers (RFC 8301); {path} has {bits}"
    )]
    WeakKey { path: String, bits: usize },
}

/// The two algorithms receivers accept today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

/// A loaded private key, with its public half in the form DNS publishes it.
pub struct Key {
    algorithm: Algorithm,
    pub(crate) der: PrivateKeyDer<'static>,
    /// `p=`: SubjectPublicKeyInfo DER for RSA, the raw 32 bytes for Ed25519 (RFC 8463).
    public: Vec<u8>,
    /// RSA only: the bare RSAPublicKey DER, which some publishers put in `p=` instead.
    public_pkcs1: Option<Vec<u8>>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private half.
        write!(f, "Key({:?}, p={})", self.algorithm, self.public_b64())
    }
}

impl Key {
    pub fn load(path: &Path) -> Result<Key, KeyError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| KeyError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Key::from_pem(&pem).map_err(|e| match e {
            KeyError::Format { reason, .. } => KeyError::Format {
                path: shown,
                reason,
            },
            KeyError::WeakKey { bits, .. } => KeyError::WeakKey { path: shown, bits },
            other => other,
        })
    }

    pub fn from_pem(pem: &[u8]) -> Result<Key, KeyError> {
        let format = |reason: String| KeyError::Format {
            path: String::new(),
            reason,
        };
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format(e.to_string()))?;
        if let PrivateKeyDer::Pkcs8(p8) = &der
            && let Ok(pair) = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(
                p8.secret_pkcs8_der(),
            )
        {
            return Ok(Key {
                algorithm: Algorithm::Ed25519,
                public: pair.public_key().as_ref().to_vec(),
                public_pkcs1: None,
                der,
            });
        }
        let pair = match &der {
            PrivateKeyDer::Pkcs1(k) => aws_lc_rs::rsa::KeyPair::from_der(k.secret_pkcs1_der()),
            PrivateKeyDer::Pkcs8(k) => aws_lc_rs::rsa::KeyPair::from_pkcs8(k.secret_pkcs8_der()),
            _ => return Err(format("an EC (SEC1) key; DKIM needs RSA or Ed25519".into())),
        }
        .map_err(|e| format(e.to_string()))?;
        let bits = pair.public_modulus_len() * 8;
        if bits < 1024 {
            return Err(KeyError::WeakKey {
                path: String::new(),
                bits,
            });
        }
        let public = pair
            .public_key()
            .as_der()
            .map_err(|e| format(e.to_string()))?
            .as_ref()
            .to_vec();
        Ok(Key {
            algorithm: Algorithm::Rsa,
            public,
            public_pkcs1: Some(pair.public_key().as_ref().to_vec()),
            der,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn public_b64(&self) -> String {
        B64.encode(&self.public)
    }

    /// The TXT record value to publish at `<selector>._domainkey.<domain>`.
    pub fn txt_record(&self) -> String {
        let k = match self.algorithm() {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        };
        format!("v=DKIM1; k={k}; p={}", self.public_b64())
    }

    /// Does a published `p=` value (base64, spaces allowed) carry this key's public half?
    pub fn matches_published(&self, p: &str) -> bool {
        let clean: String = p.chars().filter(|c| !c.is_whitespace()).collect();
        let Ok(bytes) = B64.decode(clean) else {
            return false;
        };
        bytes == self.public || self.public_pkcs1.as_ref() == Some(&bytes)
    }
}
