//! Facts about one X.509 certificate, for people and for checks: subject, names, issuer,
//! expiry, whether it signed itself, and its SHA-256 fingerprint in the `tls_fingerprint`
//! spelling (`sha256:AB:CD:...`). Pure: DER in, facts out; reads no file and trusts nothing.

use std::fmt;

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub subject: String,
    /// DNS names and addresses of the subjectAltName extension.
    pub names: Vec<String>,
    pub issuer: String,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// Issuer equals subject: nobody else vouches for it.
    pub self_signed: bool,
    /// Basic constraints say CA:TRUE.
    pub is_ca: bool,
    pub sha256: Fingerprint,
}

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(der: &[u8]) -> Fingerprint {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Fingerprint(out)
    }

    /// `sha256:AB:CD:...`, `AB:CD:...` or `abcd...`: hex with or without colons, any case.
    pub fn parse(text: &str) -> Result<Fingerprint, String> {
        let t = text.trim();
        let t = match t.split_once(':') {
            Some((algo, rest)) if algo.eq_ignore_ascii_case("sha256") => rest,
            Some((algo, _)) if algo.len() > 2 => {
                return Err(format!("`{text}`: only sha256 fingerprints are accepted"));
            }
            _ => t,
        };
        let hex: String = t.chars().filter(|c| *c != ':').collect();
        let bad = || format!("`{text}` is not a SHA-256 fingerprint (64 hex digits)");
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        write!(f, "sha256:{}", hex.join(":"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Reads the facts of a DER certificate.
pub fn facts(der: &[u8]) -> Result<CertFacts, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not a certificate: {e}"))?;
    let names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                GeneralName::IPAddress(ip) => ip_text(ip),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(CertFacts {
        subject: cert.subject().to_string(),
        names,
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        is_ca: cert.is_ca(),
        sha256: Fingerprint::of(der),
    })
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
        16 => {
            let a: [u8; 16] = b.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(a).to_string())
        }
        _ => None,
    }
}

impl CertFacts {
    /// `not_after` as a UTC date and time.
    pub fn expires(&self) -> String {
        chrono::DateTime::from_timestamp(self.not_after, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| self.not_after.to_string())
    }

    /// One line for people: subject, names, issuer, expiry.
    pub fn summary(&self) -> String {
        let names = if self.names.is_empty() {
            "none".to_string()
        } else {
            self.names.join(", ")
        };
        format!(
            "subject {}; SAN {names}; issuer {}{}; expires {}",
            self.subject,
            self.issuer,
            if self.self_signed {
                " (self-signed)"
            } else {
                ""
            },
            self.expires()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons_prefix_and_case() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        let a = Fingerprint::parse(&format!("sha256:{colons}")).unwrap();
        assert_eq!(a, Fingerprint::parse(&hex).unwrap());
        assert_eq!(a, Fingerprint::parse(&format!("SHA256:{hex}")).unwrap());
        assert_eq!(a.to_string(), format!("sha256:{colons}"));
        assert!(Fingerprint::parse("sha256:ABCD").is_err());
        assert!(Fingerprint::parse(&format!("md5:{hex}")).is_err());
    }
}
