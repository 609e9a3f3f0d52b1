//! Configuration errors. Every error names the file, the line and the key, so an admin can go
//! straight to the mistake; none of them ever carries a secret value.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is not tied to a line (e.g. the file cannot be read).
    pub line: usize,
    /// Dotted key path, e.g. `upstream.port` or `server.listen`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every error found while loading one file (the loader keeps going after the first one so
/// `check-config` can print them all at once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets and key names of one TOML text back to lines, so validation that runs after
/// deserialisation can still point at the right place.
pub(crate) struct Locator<'a> {
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text }
    }

    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text[..end].bytes().filter(|b| *b == b'\n').count() + 1
    }

    /// The key assigned on the line holding `offset`, with the enclosing table's name in front.
    pub fn key_at(&self, offset: usize) -> String {
        let line_no = self.line_of(offset);
        let line = self.text.lines().nth(line_no - 1).unwrap_or("");
        let key = line.split('=').next().unwrap_or("").trim();
        let key = if line.contains('=') { key } else { "" };
        let table = self.table_before(line_no);
        match (table.is_empty(), key.is_empty()) {
            (true, _) => key.to_string(),
            (false, true) => table,
            (false, false) => format!("{table}.{key}"),
        }
    }

    /// Name of the `[table]` or `[[array]]` header in force at `line_no`.
    fn table_before(&self, line_no: usize) -> String {
        self.text
            .lines()
            .take(line_no)
            .filter_map(|l| {
                let t = l.trim();
                t.starts_with('[')
                    .then(|| t.trim_matches(|c| c == '[' || c == ']').trim().to_string())
            })
            .last()
            .unwrap_or_default()
    }

    /// Line of `key = ...` inside the table that starts at byte `table_start`; falls back to the
    /// table's own line when the key is not written there (e.g. a missing key).
    pub fn key_line_in(&self, table_start: usize, key: &str) -> usize {
        let first = self.line_of(table_start);
        for (i, l) in self.text.lines().enumerate().skip(first - 1) {
            let t = l.trim_start();
            if i + 1 > first && t.starts_with('[') {
                break;
            }
            if let Some(rest) = t.strip_prefix(key)
                && rest.trim_start().starts_with('=')
            {
                return i + 1;
            }
        }
        first
    }
}

/// A problem with one key of one upstream; the loader turns it into a located `ConfigError`.
pub(crate) struct KeyProblem {
    pub key: &'static str,
    pub message: String,
}

pub(crate) fn problem(key: &'static str, message: impl Into<String>) -> KeyProblem {
    KeyProblem {
        key,
        message: message.into(),
    }
}
