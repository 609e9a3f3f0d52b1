//! `[upstream.oauth2]`: how smarthost obtains the OAuth2 access tokens it presents upstream with
//! XOAUTH2 or OAUTHBEARER, so a legacy program can keep sending after the provider turned off
//! passwords. Parsed and checked here, with the Microsoft and Google shortcuts filled in; the
//! HTTP work and token state live in `crate::oauth2`.

use std::path::PathBuf;

use serde::Deserialize;

use super::cert::Fingerprint;
use super::secret::Secret;

/// The API the tokens are for: it decides the default scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// XOAUTH2/OAUTHBEARER on an SMTP server.
    Smtp,
    /// Microsoft Graph (`Mail.Send`).
    Graph,
}

/// How the grant is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// App-only: the app's own id and secret (Microsoft `SMTP.SendAsApp`).
    ClientCredentials,
    /// A user's refresh token, pasted into `refresh_token_file` or left there by `oauth2 login`.
    RefreshToken,
    /// Like `refresh_token`, but `smarthost oauth2 login` obtains the first one in the terminal.
    DeviceCode,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::ClientCredentials => "client_credentials",
            Flow::RefreshToken => "refresh_token",
            Flow::DeviceCode => "device_code",
        }
    }

    /// The flow lives on a refresh token kept in a file.
    pub fn uses_refresh_token(self) -> bool {
        !matches!(self, Flow::ClientCredentials)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOAuth2 {
    flow: Flow,
    token_url: Option<String>,
    device_code_url: Option<String>,
    client_id: String,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    /// A certificate whose key signs a client assertion instead of a secret (RFC 7523).
    client_certificate: Option<PathBuf>,
    client_certificate_key: Option<PathBuf>,
    scope: Option<String>,
    /// Microsoft Entra tenant (id or domain): fills `token_url` and `device_code_url`.
    tenant: Option<String>,
    refresh_token_file: Option<PathBuf>,
}

/// A checked `[upstream.oauth2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Config {
    pub flow: Flow,
    pub token_url: String,
    pub device_code_url: Option<String>,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// Signs the client assertion that replaces the secret.
    pub client_certificate: Option<CertCredential>,
    pub scope: String,
    /// Where the refresh token and token state are kept; `None`: `<spool>/oauth2-<upstream>.json`.
    pub refresh_token_file: Option<PathBuf>,
}

/// A certificate credential: the files, and the thumbprint the token endpoint knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertCredential {
    pub cert: PathBuf,
    /// The key file (the certificate file when both are in one PEM).
    pub key: PathBuf,
    /// SHA-256 of the certificate, for the assertion's `x5t#S256` header.
    pub thumbprint: Fingerprint,
}

const MS_LOGIN: &str = "https://login.microsoftonline.com";
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_DEVICE: &str = "https://oauth2.googleapis.com/device/code";

impl RawOAuth2 {
    /// `preset` is the upstream's preset name, for the provider's defaults.
    pub(crate) fn validate(
        &self,
        preset: Option<&str>,
        api: Api,
    ) -> Result<OAuth2Config, (&'static str, String)> {
        let microsoft = self.tenant.is_some() || preset.is_some_and(|p| p.starts_with("office365"));
        let google = preset == Some("gmail");
        let (token_url, device_code_url) = self.endpoints(google)?;
        check_url("token_url", &token_url)?;
        if let Some(u) = &device_code_url {
            check_url("device_code_url", u)?;
        }
        if self.flow == Flow::DeviceCode && device_code_url.is_none() {
            return Err((
                "device_code_url",
                "flow = \"device_code\" needs device_code_url (or tenant = \"...\")".into(),
            ));
        }
        let scope = self.scope(api, microsoft, google)?;
        let client_secret = match (&self.client_secret_env, &self.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err((
                    "client_secret_env",
                    "set client_secret_env or client_secret_file, not both".into(),
                ));
            }
            (Some(v), None) => Some(Secret::Env(v.clone())),
            (None, Some(f)) => Some(Secret::File(f.clone())),
            (None, None) => None,
        };
        let client_certificate = self.certificate()?;
        if client_secret.is_some() && client_certificate.is_some() {
            return Err((
                "client_certificate",
                "set a client secret or client_certificate, not both".into(),
            ));
        }
        if self.flow == Flow::ClientCredentials
            && client_secret.is_none()
            && client_certificate.is_none()
        {
            return Err((
                "client_secret_env",
                "flow = \"client_credentials\" needs client_secret_env, client_secret_file or client_certificate"
                    .into(),
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(("client_id", "client_id is empty".into()));
        }
        Ok(OAuth2Config {
            flow: self.flow,
            token_url,
            device_code_url,
            client_id: self.client_id.trim().to_string(),
            client_secret,
            client_certificate,
            scope,
            refresh_token_file: self.refresh_token_file.clone(),
        })
    }
}

impl RawOAuth2 {
    /// The token endpoint and the device endpoint: given, or Microsoft's for the tenant, or
    /// Google's.
    fn endpoints(&self, google: bool) -> Result<(String, Option<String>), (&'static str, String)> {
        Ok(match (&self.token_url, &self.tenant) {
            (Some(t), _) => (t.clone(), self.device_code_url.clone()),
            (None, Some(tenant)) => {
                let tenant = tenant.trim();
                if tenant.is_empty() || tenant.contains(['/', ' ', '?', '#']) {
                    return Err(("tenant", format!("`{tenant}` is not a tenant id or domain")));
                }
                (
                    format!("{MS_LOGIN}/{tenant}/oauth2/v2.0/token"),
                    Some(
                        self.device_code_url
                            .clone()
                            .unwrap_or(format!("{MS_LOGIN}/{tenant}/oauth2/v2.0/devicecode")),
                    ),
                )
            }
            (None, None) if google => (
                GOOGLE_TOKEN.to_string(),
                Some(
                    self.device_code_url
                        .clone()
                        .unwrap_or(GOOGLE_DEVICE.to_string()),
                ),
            ),
            (None, None) => {
                return Err((
                    "token_url",
                    "give token_url (or tenant = \"...\" for Microsoft 365)".into(),
                ));
            }
        })
    }

    /// The scope: given, or the one the API and provider want.
    fn scope(
        &self,
        api: Api,
        microsoft: bool,
        google: bool,
    ) -> Result<String, (&'static str, String)> {
        Ok(match (&self.scope, self.flow) {
            (Some(s), _) => s.clone(),
            (None, Flow::ClientCredentials) if api == Api::Graph => {
                "https://graph.microsoft.com/.default".to_string()
            }
            (None, _) if api == Api::Graph => {
                "https://graph.microsoft.com/Mail.Send offline_access".to_string()
            }
            (None, Flow::ClientCredentials) if microsoft => {
                "https://outlook.office365.com/.default".to_string()
            }
            (None, _) if microsoft => "https://outlook.office.com/SMTP.Send offline_access".into(),
            (None, _) if google => "https://mail.google.com/".into(),
            (None, _) => {
                return Err(("scope", "give the scope the provider wants for SMTP".into()));
            }
        })
    }

    /// `client_certificate` (with its key, or both in one PEM): read, matched, and RSA, as
    /// RS256/PS256 assertions need.
    fn certificate(&self) -> Result<Option<CertCredential>, (&'static str, String)> {
        let key = self.client_certificate_key.as_deref();
        let Some(cert) = &self.client_certificate else {
            return match key {
                Some(_) => Err((
                    "client_certificate_key",
                    "client_certificate_key needs client_certificate = \"...\"".into(),
                )),
                None => Ok(None),
            };
        };
        let pair =
            super::tls_identity::load_pair(cert, key).map_err(|m| ("client_certificate", m))?;
        let rsa = rustls::crypto::aws_lc_rs::sign::any_supported_type(&pair.key)
            .is_ok_and(|k| k.algorithm() == rustls::SignatureAlgorithm::RSA);
        if !rsa {
            return Err((
                "client_certificate",
                format!("{}: the key must be RSA (RS256 assertions)", cert.display()),
            ));
        }
        Ok(Some(CertCredential {
            cert: cert.clone(),
            key: key.unwrap_or(cert).to_path_buf(),
            thumbprint: pair.facts.sha256,
        }))
    }
}

/// Tokens travel over HTTPS; plain HTTP only to this machine (a local token service or a test).
fn check_url(key: &'static str, url: &str) -> Result<(), (&'static str, String)> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
            return Ok(());
        }
    }
    Err((
        key,
        format!("`{url}` must be an https:// address (http:// only to localhost)"),
    ))
}
