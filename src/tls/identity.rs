//! The TLS client side of one upstream, beyond the system roots: a server certificate that is
//! itself in `ca_file` is trusted directly (a self-signed certificate, CA:TRUE or not, as
//! OpenSSL clients do), `tls_fingerprint` pins the end-entity certificate whatever its chain,
//! name or expiry, and a client certificate is shown to a server that asks. Remembers the last
//! server certificate seen and whether a client certificate was asked for, so `send-test` can
//! tell. Never decides what happens to mail.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

use crate::config::cert::{self, Fingerprint};

/// Why a server certificate is refused, beyond what webpki says.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("self-signed certificate {0} is not trusted (not in ca_file, not pinned)")]
    SelfSigned(Fingerprint),
    #[error("certificate {0} is not a pinned tls_fingerprint")]
    NotPinned(Fingerprint),
    #[error("certificate {0} from ca_file has expired")]
    Expired(Fingerprint),
}

impl fmt::Debug for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn refuse(e: TrustError) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

/// Checks an upstream's certificate: pins first, then direct trust, then webpki.
#[derive(Debug)]
pub struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of `ca_file`, for a server that presents one of them as its own.
    direct: Vec<CertificateDer<'static>>,
    pins: Vec<Fingerprint>,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl Verifier {
    pub fn new(
        webpki: Arc<WebPkiServerVerifier>,
        direct: Vec<CertificateDer<'static>>,
        pins: Vec<Fingerprint>,
        provider: Arc<CryptoProvider>,
    ) -> Verifier {
        Verifier {
            webpki,
            direct,
            pins,
            provider,
            seen: Mutex::new(None),
        }
    }

    /// The end-entity certificate of the last handshake, accepted or not.
    pub fn last_seen(&self) -> Option<CertificateDer<'static>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn trusted_directly(
        &self,
        end_entity: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Option<Result<ServerCertVerified, Error>> {
        if !self
            .direct
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return None;
        }
        let parsed = match rustls::server::ParsedCertificate::try_from(end_entity) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        if let Err(e) = rustls::client::verify_server_name(&parsed, name) {
            return Some(Err(e));
        }
        let facts = cert::facts(end_entity).ok()?;
        if now.as_secs() as i64 > facts.not_after {
            return Some(Err(refuse(TrustError::Expired(facts.sha256))));
        }
        Some(Ok(ServerCertVerified::assertion()))
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(end_entity.clone().into_owned());
        let fp = Fingerprint::of(end_entity);
        if !self.pins.is_empty() {
            return match self.pins.contains(&fp) {
                true => Ok(ServerCertVerified::assertion()),
                false => Err(refuse(TrustError::NotPinned(fp))),
            };
        }
        if let Some(verdict) = self.trusted_directly(end_entity, name, now) {
            return verdict;
        }
        let verdict = self
            .webpki
            .verify_server_cert(end_entity, intermediates, name, ocsp, now);
        let self_signed = || cert::facts(end_entity).is_ok_and(|f| f.self_signed);
        match verdict {
            // A CA:TRUE certificate keeps webpki's CaUsedAsEndEntity: it says more.
            Err(Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            )) if self_signed() => Err(refuse(TrustError::SelfSigned(fp))),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Shows the one client certificate when the server asks, and remembers that it asked.
#[derive(Debug)]
pub struct ClientIdentity {
    key: Arc<rustls::sign::CertifiedKey>,
    asked: AtomicBool,
}

impl ClientIdentity {
    pub fn new(key: Arc<rustls::sign::CertifiedKey>) -> ClientIdentity {
        ClientIdentity {
            key,
            asked: AtomicBool::new(false),
        }
    }

    /// Whether a server asked for it since the last call (and forgets).
    pub fn take_asked(&self) -> bool {
        self.asked.swap(false, Ordering::Relaxed)
    }
}

impl rustls::client::ResolvesClientCert for ClientIdentity {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        Some(self.key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
