//! `[server]` keys that defend the relay against hostile clients: what to do with bare CR/LF
//! and NUL in a message, and how much message data all sessions together may hold in memory.
//! Owns only the parsed values and their defaults; never enforces them (the session does).

use serde::Deserialize;

/// `[server] bare_newlines`: a CR or LF that is not part of a CRLF pair (or a NUL) inside DATA.
/// Such bytes are what SMTP smuggling relies on downstream, so they never go upstream as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BareNewlines {
    /// A bare CR or bare LF becomes CRLF; NUL is removed (what most clients mean).
    #[default]
    Normalize,
    /// The message is refused after DATA with `550 5.5.2` and a reason.
    Reject,
}

/// `[server] memory_budget`: message bodies held by all sessions together. Past it a message
/// gets `452 4.3.1` (the client retries), never an out-of-memory kill. 256 MiB takes seven
/// messages of the default 35 MB limit at once.
pub fn default_memory_budget() -> super::ByteSize {
    super::ByteSize(256 * 1024 * 1024)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    use super::BareNewlines;

    const UPSTREAM: &str = "[[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"o\"\n";

    fn load(server: &str) -> Result<Config, crate::config::ConfigErrors> {
        Config::load(
            &format!("[server]\n{server}\n{UPSTREAM}"),
            Path::new("t.toml"),
        )
    }

    #[test]
    fn bare_newlines_defaults_to_normalize_and_reads_reject() {
        assert_eq!(
            load("").unwrap().server.bare_newlines,
            BareNewlines::Normalize
        );
        let c = load("bare_newlines = \"reject\"").unwrap();
        assert_eq!(c.server.bare_newlines, BareNewlines::Reject);
        assert!(load("bare_newlines = \"keep\"").is_err());
    }

    #[test]
    fn memory_budget_defaults_to_256_mib_and_takes_units() {
        assert_eq!(load("").unwrap().server.memory_budget, 256 << 20);
        let c = load("memory_budget = \"1GiB\"").unwrap();
        assert_eq!(c.server.memory_budget, 1 << 30);
    }
}
