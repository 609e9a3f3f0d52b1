//! How an SMTP upstream's TLS identities are configured: the server certificates pinned by
//! `tls_fingerprint`, and the client certificate (`tls_client_cert`, `tls_client_key`) shown to
//! a server that asks (the Office 365 connector). Checked at load: the key must match the
//! certificate and the certificate must not have expired; warnings (expiry within 30 days, a
//! self-signed certificate for Microsoft) are for `check-config`. Performs no handshake.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

pub use super::cert::{CertFacts, Fingerprint, facts};
use super::error::{KeyProblem, problem};
use super::presets::Preset;
use super::values::ConnMode;

/// The preset of the Microsoft 365 inbound connector.
pub const CONNECTOR: &str = "office365-connector";
/// A client certificate closer than this to its end is worth a warning.
const SOON: i64 = 30 * 86_400;

/// `tls_fingerprint = "sha256:..."` or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The TLS identities of one SMTP upstream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsIdentity {
    /// Server certificates accepted whatever their chain, name or expiry; any other is refused.
    pub pins: Vec<Fingerprint>,
    /// Presented when the server asks for a client certificate.
    pub client_cert: Option<ClientCert>,
}

/// A certificate and its private key, checked to belong together.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCert {
    pub cert: PathBuf,
    /// The key file (the certificate file when both are in one PEM).
    pub key: PathBuf,
    /// The end-entity certificate's facts, read at load.
    pub facts: CertFacts,
}

/// A certificate chain and its key, read from PEM.
pub struct KeyPair {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub facts: CertFacts,
}

/// Reads `cert` (and `key`, else the key in `cert`) and checks that they belong together and
/// that the certificate is in its validity period.
pub fn load_pair(cert: &Path, key: Option<&Path>) -> Result<KeyPair, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
    let first = chain
        .first()
        .ok_or_else(|| format!("{} holds no PEM certificate", cert.display()))?;
    let key_path = key.unwrap_or(cert);
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key_path.display()))?;
    let facts = facts(first).map_err(|e| format!("{}: {e}", cert.display()))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signer = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| format!("{}: unusable private key: {e}", key_path.display()))?;
    rustls::sign::CertifiedKey::new(chain.clone(), signer)
        .keys_match()
        .map_err(|_| {
            format!(
                "the key in {} does not belong to the certificate in {}",
                key_path.display(),
                cert.display()
            )
        })?;
    let now = chrono::Utc::now().timestamp();
    if facts.not_after < now {
        return Err(format!(
            "the certificate in {} expired on {}",
            cert.display(),
            facts.expires()
        ));
    }
    Ok(KeyPair { chain, key, facts })
}

/// The checked identities; `preset` for the connector's rules.
pub(crate) fn resolve(
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
    pins: Option<&OneOrMany>,
) -> Result<TlsIdentity, KeyProblem> {
    let pins = match pins {
        None => Vec::new(),
        Some(OneOrMany::One(p)) => vec![p.clone()],
        Some(OneOrMany::Many(ps)) => ps.clone(),
    };
    let pins = pins
        .iter()
        .map(|p| Fingerprint::parse(p).map_err(|m| problem("tls_fingerprint", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let client_cert = match (cert, key) {
        (None, Some(_)) => {
            return Err(problem(
                "tls_client_key",
                "tls_client_key needs tls_client_cert = \"...\"",
            ));
        }
        (None, None) => None,
        (Some(c), k) => {
            let pair =
                load_pair(c, k.map(PathBuf::as_path)).map_err(|m| problem("tls_client_cert", m))?;
            Some(ClientCert {
                cert: c.clone(),
                key: k.unwrap_or(c).clone(),
                facts: pair.facts,
            })
        }
    };
    Ok(TlsIdentity { pins, client_cert })
}

/// The host: given, else the preset's; the connector has none of its own.
pub(crate) fn host(given: Option<&str>, preset: Option<&Preset>) -> Result<String, KeyProblem> {
    // A preset's placeholder (`<domain>...`) is no host.
    let from_preset = preset.map(|p| p.host).filter(|h| !h.contains('<'));
    let host = given.or(from_preset).map(str::trim).unwrap_or("");
    if !host.is_empty() {
        return Ok(host.to_string());
    }
    Err(match preset {
        Some(p) if p.name == CONNECTOR => problem(
            "host",
            "preset office365-connector needs host = your tenant's MX host, \
             \"<domain>.mail.protection.outlook.com\" (see the MX record of your domain)",
        ),
        _ => problem("host", "an SMTP upstream needs host = \"...\""),
    })
}

/// The connector is reached with STARTTLS only: a certificate cannot be shown without TLS.
pub(crate) fn check_conn(conn: ConnMode, preset: Option<&Preset>) -> Result<(), KeyProblem> {
    match preset {
        Some(p) if p.name == CONNECTOR && conn != ConnMode::StartTls => Err(problem(
            "conn",
            format!("preset office365-connector needs conn = \"starttls\", not \"{conn}\""),
        )),
        _ => Ok(()),
    }
}

/// `check-config` warnings about a client certificate: one that soon expires, and one that
/// Microsoft will refuse because nobody vouches for it.
pub fn warnings(name: &str, id: &TlsIdentity, preset: Option<&str>, now: i64) -> Vec<String> {
    let Some(c) = &id.client_cert else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if c.facts.not_after - now < SOON {
        out.push(format!(
            "warning: upstream \"{name}\": the client certificate {} expires on {}; renew it",
            c.cert.display(),
            c.facts.expires()
        ));
    }
    if preset == Some(CONNECTOR) && c.facts.self_signed {
        out.push(format!(
            "warning: upstream \"{name}\": the client certificate {} is self-signed; Microsoft 365 \
             connectors accept only certificates from a public CA",
            c.cert.display()
        ));
    }
    out
}

impl super::Config {
    /// Every client certificate warning of every SMTP upstream, for `check-config`.
    pub fn tls_warnings(&self) -> Vec<String> {
        let now = chrono::Utc::now().timestamp();
        self.upstreams
            .iter()
            .filter_map(|u| match &u.transport {
                super::Transport::Smtp(s) => Some(warnings(&u.name, &s.tls, s.preset, now)),
                _ => None,
            })
            .flatten()
            .collect()
    }
}
