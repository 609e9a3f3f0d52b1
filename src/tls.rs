//! TLS configuration for both sides: the listener's certificate (STARTTLS to clients) and the
//! trust store for upstreams (system roots plus an optional `ca_file`). Loads PEM files once;
//! never performs a handshake itself.

pub mod identity;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use crate::config::TlsVersion;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate file {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read private key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

pub fn server_config(
    cert: &Path,
    key: &Path,
    min: TlsVersion,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let versions: &[&rustls::SupportedProtocolVersion] = match min {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// The listener's certificate, reloaded from its files on SIGHUP without dropping sessions.
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    min: TlsVersion,
    current: std::sync::RwLock<tokio_rustls::TlsAcceptor>,
}

impl ServerTls {
    pub fn load(cert: &Path, key: &Path, min: TlsVersion) -> Result<ServerTls, TlsError> {
        let config = server_config(cert, key, min)?;
        Ok(ServerTls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            min,
            current: std::sync::RwLock::new(tokio_rustls::TlsAcceptor::from(config)),
        })
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the files again; on error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert, &self.key, self.min)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            tokio_rustls::TlsAcceptor::from(config);
        Ok(())
    }
}

/// Trust store for an upstream: the system roots (when readable) plus `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        for cert in load_certs(path)? {
            roots.add(cert).map_err(|e| TlsError::Certificate {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An upstream's TLS client: its configuration and what its handshakes saw.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    pub config: Arc<rustls::ClientConfig>,
    pub verifier: Arc<identity::Verifier>,
    /// Present when `tls_client_cert` is set.
    pub client: Option<Arc<identity::ClientIdentity>>,
}

/// The system roots plus `ca_file` (whose certificates are also trusted as the server's own),
/// the pinned fingerprints, and the client certificate.
pub fn upstream_tls(
    ca_file: Option<&Path>,
    id: &crate::config::tls_identity::TlsIdentity,
) -> Result<UpstreamTls, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let direct = match ca_file {
        Some(path) => load_certs(path)?,
        None => Vec::new(),
    };
    // A CA:TRUE server certificate may not be a usable root for webpki; it is trusted directly.
    roots.add_parsable_certificates(direct.iter().cloned());
    let provider = provider();
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
    let verifier = Arc::new(identity::Verifier::new(
        webpki,
        direct,
        id.pins.clone(),
        provider.clone(),
    ));
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let (config, client) = match &id.client_cert {
        None => (builder.with_no_client_auth(), None),
        Some(c) => {
            let pair = crate::config::tls_identity::load_pair(&c.cert, Some(&c.key)).map_err(
                |reason| TlsError::Certificate {
                    path: c.cert.clone(),
                    reason,
                },
            )?;
            let signer = provider.key_provider.load_private_key(pair.key)?;
            let key = Arc::new(rustls::sign::CertifiedKey::new(pair.chain, signer));
            let client = Arc::new(identity::ClientIdentity::new(key));
            (
                builder.with_client_cert_resolver(client.clone()),
                Some(client),
            )
        }
    };
    Ok(UpstreamTls {
        config: Arc::new(config),
        verifier,
        client,
    })
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::Certificate {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate found".into()));
    }
    Ok(certs)
}
