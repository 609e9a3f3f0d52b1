//! The "liste noire": recipients that must never get mail. Entries are `user@domain`,
//! `@domain` (exactly that domain) or `*.domain` (any subdomain); matching ignores case and
//! compares domains in their IDNA (punycode) form. The file is re-read when it changes, checked
//! on every lookup by its modification time and size, so an edit takes effect without a restart.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

#[derive(Debug, Default, PartialEq)]
struct Entries {
    addresses: HashSet<String>,
    domains: HashSet<String>,
    suffixes: Vec<String>,
}

pub struct Blacklist {
    path: PathBuf,
    state: RwLock<(Entries, Option<(SystemTime, u64)>)>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read blacklist file {path}: {source}")]
pub struct BlacklistError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl Blacklist {
    pub fn open(path: &Path) -> Result<Blacklist, BlacklistError> {
        let bl = Blacklist {
            path: path.to_path_buf(),
            state: RwLock::new((Entries::default(), None)),
        };
        let stamp = stamp(path).map_err(|source| BlacklistError {
            path: path.to_path_buf(),
            source,
        })?;
        bl.reload(stamp).map_err(|source| BlacklistError {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(bl)
    }

    /// Whether `addr` is listed. Picks up edits of the file first.
    pub fn contains(&self, addr: &str) -> bool {
        self.refresh();
        let Some((local, domain)) = normalize(addr) else {
            return false;
        };
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let e = &state.0;
        e.addresses.contains(&format!("{local}@{domain}"))
            || e.domains.contains(&domain)
            || e.suffixes
                .iter()
                .any(|s| domain.ends_with(&format!(".{s}")))
    }

    fn refresh(&self) {
        let Ok(now) = stamp(&self.path) else { return };
        let current = self.state.read().unwrap_or_else(|p| p.into_inner()).1;
        if current != Some(now)
            && let Err(e) = self.reload(now)
        {
            tracing::error!(
                "blacklist {}: {e}; keeping the previous list",
                self.path.display()
            );
        }
    }

    fn reload(&self, stamp: (SystemTime, u64)) -> std::io::Result<()> {
        let text = std::fs::read_to_string(&self.path)?;
        let entries = parse(&text);
        tracing::info!(
            "blacklist {} loaded: {} entries",
            self.path.display(),
            entries.addresses.len() + entries.domains.len() + entries.suffixes.len()
        );
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = (entries, Some(stamp));
        Ok(())
    }
}

fn stamp(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.modified()?, m.len()))
}

fn parse(text: &str) -> Entries {
    let mut e = Entries::default();
    for line in text.lines() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        if let Some(d) = entry.strip_prefix("*.") {
            if let Some(d) = domain_ascii(d) {
                e.suffixes.push(d);
            }
        } else if let Some(d) = entry.strip_prefix('@') {
            if let Some(d) = domain_ascii(d) {
                e.domains.insert(d);
            }
        } else if let Some((l, d)) = normalize(entry) {
            e.addresses.insert(format!("{l}@{d}"));
        }
    }
    e
}

/// Lower-cased local part (its content: `"bob"@x` is `bob@x`) and ASCII (punycode) domain. The
/// address is read as a [`Mailbox`](crate::envelope::Mailbox), so an `@` inside a quoted local
/// part is never taken for the domain's; an entry of the file that is no mailbox is split at its
/// last `@` as before.
pub fn normalize(addr: &str) -> Option<(String, String)> {
    let addr = addr.trim().trim_start_matches('<').trim_end_matches('>');
    if let Ok(m) = crate::envelope::Mailbox::parse(addr) {
        return Some((m.local().to_lowercase(), domain_ascii(m.domain())?));
    }
    let (local, domain) = addr.rsplit_once('@')?;
    Some((local.to_lowercase(), domain_ascii(domain)?))
}

pub fn domain_ascii(domain: &str) -> Option<String> {
    idna::domain_to_ascii(domain.trim().trim_end_matches('.'))
        .ok()
        .filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> (tempfile::TempDir, Blacklist) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bl.txt");
        std::fs::write(&p, text).unwrap();
        let bl = Blacklist::open(&p).unwrap();
        (dir, bl)
    }

    #[test]
    fn entries_match_addresses_domains_and_subdomains() {
        let (_d, bl) =
            list("# comment\nbob@example.com\n@spam.test  # whole domain\n*.junk.test\n");
        let table = [
            ("bob@example.com", true),
            ("BOB@Example.COM", true),
            ("alice@example.com", false),
            ("x@spam.test", true),
            ("x@sub.spam.test", false),
            ("x@a.junk.test", true),
            ("x@junk.test", false),
            ("<bob@example.com>", true),
        ];
        for (addr, want) in table {
            assert_eq!(bl.contains(addr), want, "{addr}");
        }
    }

    #[test]
    fn a_listed_mailbox_matches_however_its_local_part_is_quoted() {
        let (_d, bl) = list("victim@target.test\n");
        assert!(bl.contains(r#""victim"@target.test"#));
        assert!(bl.contains(r#""VICTIM"@Target.test"#));
        assert!(!bl.contains(r#""victim@target.test"@dest.test"#));
    }

    #[test]
    fn idn_domains_match_in_unicode_or_punycode() {
        let (_d, bl) = list("@bücher.example\nkunde@xn--mller-kva.example\n");
        assert!(bl.contains("x@xn--bcher-kva.example"));
        assert!(bl.contains("x@BÜCHER.example"));
        assert!(bl.contains("kunde@müller.example"));
    }

    #[test]
    fn an_edit_of_the_file_takes_effect_without_a_restart() {
        let (d, bl) = list("bob@example.com\n");
        assert!(!bl.contains("eve@example.com"));
        std::fs::write(
            d.path().join("bl.txt"),
            "bob@example.com\neve@example.com # added later\n",
        )
        .unwrap();
        assert!(bl.contains("eve@example.com"));
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let e = Blacklist::open(Path::new("/nonexistent/bl.txt"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/bl.txt"));
    }
}
