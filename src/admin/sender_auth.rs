//! `smarthost spf check` and `smarthost dkim keygen|check`: the sender-domain records an office
//! admin must publish, checked against the live DNS and explained in plain words. Prints text;
//! the evaluation itself is `crate::spf`, the keys `crate::dkim`.

use std::fmt::Write;
use std::path::Path;

use crate::config::{Config, SpfMode, SpfResult};
use crate::dkim::{self, Algorithm, Signers};
use crate::spf::{self, SpfCheck};

/// The outcome of a check command, as its exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: every record is right.
    Ok,
    /// 1: a record is missing or does not authorize/match.
    Wrong,
    /// 2: the records could not be read (DNS trouble, nothing to check).
    Error,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Wrong => 1,
            Outcome::Error => 2,
        }
    }

    fn worst(self, other: Outcome) -> Outcome {
        if other.code() > self.code() {
            other
        } else {
            self
        }
    }
}

/// Evaluates `domain`'s SPF record for one upstream, or for every SMTP upstream.
pub async fn spf_check(config: &Config, domain: &str, upstream: Option<&str>) -> (String, Outcome) {
    let names: Vec<String> = match config.smtp_upstreams(upstream) {
        Ok(ups) => ups.into_iter().map(|(n, _)| n.to_string()).collect(),
        Err(known) => {
            let msg = match upstream {
                Some(u) => format!("no SMTP upstream named {u} (configured: {known})\n"),
                None => "no SMTP upstream is configured: give --config with the relay's file\n"
                    .to_string(),
            };
            return (msg, Outcome::Error);
        }
    };
    // The check runs whatever the relay's own mode is.
    let mut cfg = config.clone();
    cfg.spf.mode = SpfMode::Warn;
    let check = SpfCheck::new(&cfg);
    let mut out = String::new();
    let mut outcome = Outcome::Ok;
    for name in names {
        let mut v = match check.check_now(domain, Some(&name)).await {
            Ok(v) => v,
            Err(e) => {
                let _ = writeln!(out, "{e}");
                outcome = outcome.worst(Outcome::Error);
                continue;
            }
        };
        check.describe_path(&mut v).await;
        let _ = writeln!(
            out,
            "SPF of {} for upstream \"{}\" ({})",
            v.domain, v.upstream, v.provider
        );
        match &v.record {
            Some(r) => {
                let _ = writeln!(out, "  record   {}  \"{r}\"", v.domain);
            }
            None if v.result == SpfResult::None => {
                let _ = writeln!(out, "  record   {}  (none)", v.domain);
            }
            None => {}
        }
        for (i, (n, text)) in v.path.iter().enumerate() {
            let label = if i == 0 { "  path     " } else { "           " };
            let shown = if text.is_empty() {
                "(no SPF record)".to_string()
            } else {
                format!("\"{text}\"")
            };
            let _ = writeln!(out, "{label}{n}  {shown}");
        }
        if !v.ips.is_empty() {
            let ips: Vec<String> = v.ips.iter().map(|i| i.to_string()).collect();
            let why = match &v.include {
                Some(i) => format!("addresses the provider's record {i} lists"),
                None => "the addresses this upstream sends from".to_string(),
            };
            let _ = writeln!(out, "  tested   {} ({why})", ips.join(", "));
        }
        let _ = writeln!(out, "  result   {}", v.result);
        let _ = writeln!(out, "  verdict  {}", v.sentence());
        if v.result != SpfResult::Pass {
            let publish = v
                .record
                .as_deref()
                .map(|r| suggested_record(r, &v.mechanism()))
                .unwrap_or_else(|| format!("v=spf1 {} ~all", v.mechanism()));
            if !matches!(v.result, SpfResult::TempError | SpfResult::PermError) {
                let _ = writeln!(out, "  publish  {}  TXT  \"{publish}\"", v.domain);
            }
        }
        outcome = outcome.worst(match v.result {
            SpfResult::Pass => Outcome::Ok,
            SpfResult::TempError => Outcome::Error,
            _ => Outcome::Wrong,
        });
    }
    (out, outcome)
}

/// `record` with `mechanism` added before its final `all` (or `redirect=`), as the admin would
/// write it.
fn suggested_record(record: &str, mechanism: &str) -> String {
    let terms: Vec<&str> = record.split_ascii_whitespace().collect();
    if terms.iter().any(|t| t.eq_ignore_ascii_case(mechanism)) {
        return record.to_string();
    }
    let at = terms
        .iter()
        .position(|t| {
            let t = t
                .trim_start_matches(['+', '-', '~', '?'])
                .to_ascii_lowercase();
            t == "all" || t.starts_with("redirect=")
        })
        .unwrap_or(terms.len());
    let mut out: Vec<&str> = terms[..at].to_vec();
    out.push(mechanism);
    out.extend_from_slice(&terms[at..]);
    if at == terms.len() {
        out.push("~all");
    }
    out.join(" ")
}

/// Writes a new key to `out` (never over an existing file) and says what to publish.
pub fn dkim_keygen(
    algorithm: Algorithm,
    bits: usize,
    out: &Path,
    domain: &str,
    selector: &str,
) -> Result<String, String> {
    use std::io::Write as _;
    let pem = dkim::generate(algorithm, bits).map_err(|e| e.to_string())?;
    let key = dkim::Key::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut file =
        crate::fsutil::private_file(std::fs::OpenOptions::new().write(true).create_new(true))
            .open(out)
            .map_err(|e| {
                format!(
                    "cannot create {}: {e}{}",
                    out.display(),
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        " (an existing key is never overwritten: move it away first)"
                    } else {
                        ""
                    }
                )
            })?;
    file.write_all(pem.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let name = format!("{selector}._domainkey.{domain}");
    let value = key.txt_record();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Wrote a new {} key to {} (mode 0600: keep it private).",
        match algorithm {
            Algorithm::Rsa => format!("RSA-{bits}"),
            Algorithm::Ed25519 => "Ed25519".to_string(),
        },
        out.display()
    );
    let _ = writeln!(
        s,
        "Publish this TXT record, then run `smarthost dkim check`:\n"
    );
    let _ = writeln!(s, "  name:  {name}");
    let _ = writeln!(s, "  value: {value}\n");
    let _ = writeln!(s, "In a zone file (strings of at most 255 characters):\n");
    let _ = writeln!(s, "{name}. IN TXT ( {} )", quoted_chunks(&value));
    Ok(s)
}

/// `"first 255" "next 255" ...`: a TXT string holds at most 255 bytes.
fn quoted_chunks(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compares the key each `[dkim]` section signs with to the one published in DNS.
pub async fn dkim_check(config: &Config) -> (String, Outcome) {
    let signers = match Signers::load(config) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            return (
                "no [dkim] section is configured: nothing to check\n".into(),
                Outcome::Error,
            );
        }
        Err(e) => return (format!("{e}\n"), Outcome::Error),
    };
    let resolver = match spf::resolver(&config.spf) {
        Ok(r) => r,
        Err(e) => return (format!("{e}\n"), Outcome::Error),
    };
    let mut out = String::new();
    let mut outcome = Outcome::Ok;
    for (upstream, signer) in signers.all() {
        let name = format!("{}._domainkey.{}", signer.selector, signer.domain);
        let scope = upstream
            .map(|u| format!("upstream \"{u}\""))
            .unwrap_or_else(|| "[dkim]".into());
        let expected = signer.key().txt_record();
        let (line, o) = match spf::txt(&resolver, &name).await {
            Err(e) => (
                format!("ERROR     {name} ({scope}): DNS lookup failed: {e}"),
                Outcome::Error,
            ),
            Ok(records) => match records.iter().find_map(|r| dkim_p(r)) {
                None => (
                    format!(
                        "MISSING   {name} ({scope}): no DKIM record is published; publish TXT \"{expected}\""
                    ),
                    Outcome::Wrong,
                ),
                Some(p) if p.is_empty() => (
                    format!(
                        "REVOKED   {name} ({scope}): the record has an empty p= (key revoked); publish TXT \"{expected}\""
                    ),
                    Outcome::Wrong,
                ),
                Some(p) if signer.key().matches_published(&p) => (
                    format!("OK        {name} ({scope}): the published key matches the key file"),
                    Outcome::Ok,
                ),
                Some(_) => (
                    format!(
                        "MISMATCH  {name} ({scope}): the published key is not the one in the key file; \
                         receivers will fail every signature. Publish TXT \"{expected}\""
                    ),
                    Outcome::Wrong,
                ),
            },
        };
        let _ = writeln!(out, "{line}");
        outcome = outcome.worst(o);
    }
    (out, outcome)
}

/// The `p=` tag of a DKIM key record (RFC 6376 3.6.1), `None` if it is not one.
fn dkim_p(record: &str) -> Option<String> {
    let mut p = None;
    let mut is_dkim = true;
    for tag in record.split(';') {
        let Some((k, v)) = tag.split_once('=') else {
            continue;
        };
        match k.trim() {
            "v" if v.trim() != "DKIM1" => is_dkim = false,
            "p" => p = Some(v.trim().to_string()),
            _ => {}
        }
    }
    p.filter(|_| is_dkim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_goes_before_the_all_term() {
        assert_eq!(
            suggested_record("v=spf1 mx -all", "include:spf.protection.outlook.com"),
            "v=spf1 mx include:spf.protection.outlook.com -all"
        );
        assert_eq!(
            suggested_record("v=spf1 redirect=_spf.example.com", "ip4:192.0.2.1"),
            "v=spf1 ip4:192.0.2.1 redirect=_spf.example.com"
        );
        assert_eq!(
            suggested_record("v=spf1 a", "ip4:192.0.2.1"),
            "v=spf1 a ip4:192.0.2.1 ~all"
        );
    }

    #[test]
    fn a_dkim_record_is_read_by_its_tags() {
        assert_eq!(
            dkim_p("v=DKIM1; k=rsa; p=MIIB AQAB").as_deref(),
            Some("MIIB AQAB")
        );
        assert_eq!(dkim_p("v=DKIM1; p=").as_deref(), Some(""));
        assert_eq!(dkim_p("v=spf1 -all"), None);
    }

    #[test]
    fn txt_strings_are_cut_at_255_bytes() {
        let v = "x".repeat(300);
        let q = quoted_chunks(&v);
        assert_eq!(q, format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45)));
    }
}
