//! One validated mailbox (RFC 5321 4.1.2): a local part and a domain. Owns the address syntax
//! the relay accepts and the one form it writes: wherever an address is written (upstream
//! commands, `Return-Path`, bounces, logs) it is this type's [`Display`], which keeps a quoted
//! local part quoted, so what a client quoted can never turn into ESMTP parameters or another
//! address. Never looks anything up and never lower-cases: matching is the caller's business.
//!
//! Stricter than RFC 5321 on purpose: a control character anywhere, and `<`, `>` or a space
//! inside a quoted local part, are refused (`553`); no real mailbox needs them and each has
//! been used to smuggle parameters past a parser.

use std::fmt;

/// Longest path accepted (RFC 5321 4.5.3.1.3 allows 256 octets with the brackets).
const MAX_PATH: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    #[error("address has no @domain")]
    NoDomain,
    #[error("empty local part")]
    EmptyLocal,
    #[error("control character in address")]
    Control,
    #[error("quoted local part holds <, > or a space")]
    UnsafeQuoted,
    #[error("unterminated quoted local part")]
    Unterminated,
    #[error("character not allowed in the local part")]
    BadLocal,
    #[error("bad domain")]
    BadDomain,
    #[error("address too long")]
    TooLong,
}

/// A mailbox whose parts are known good. `local` is the local part's content, unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    local: String,
    domain: String,
}

impl Mailbox {
    /// Parses the text between `<` and `>` of a path (a source route `@a,@b:` is dropped, as
    /// RFC 5321 4.1.1.3 says). Also reads back what [`Display`] wrote.
    pub fn parse(path: &str) -> Result<Mailbox, MailboxError> {
        if path.len() > MAX_PATH {
            return Err(MailboxError::TooLong);
        }
        if path.chars().any(char::is_control) {
            return Err(MailboxError::Control);
        }
        let path = strip_source_route(path);
        let (local, rest) = match path.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let at = path.find('@').ok_or(MailboxError::NoDomain)?;
                let local = &path[..at];
                if !local.chars().all(is_dot_string_char) {
                    return Err(MailboxError::BadLocal);
                }
                (local.to_string(), &path[at..])
            }
        };
        if local.is_empty() {
            return Err(MailboxError::EmptyLocal);
        }
        let domain = rest.strip_prefix('@').ok_or(MailboxError::NoDomain)?;
        check_domain(domain)?;
        Ok(Mailbox {
            local,
            domain: domain.to_string(),
        })
    }

    /// The local part's content, without quotes or escapes.
    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl fmt::Display for Mailbox {
    /// `local@domain`, the local part quoted (with `\` before `"` and `\`) unless it is a
    /// plain dot-string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_dot_string(&self.local) {
            return write!(f, "{}@{}", self.local, self.domain);
        }
        f.write_str("\"")?;
        for c in self.local.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        write!(f, "\"@{}", self.domain)
    }
}

/// `@a.test,@b.test:user@c.test` -> `user@c.test`.
fn strip_source_route(path: &str) -> &str {
    match (path.starts_with('@'), path.find(':')) {
        (true, Some(colon)) => &path[colon + 1..],
        _ => path,
    }
}

/// Reads a quoted local part after its opening `"`: its content and what follows the closing
/// quote.
fn unquote(s: &str) -> Result<(String, &str), MailboxError> {
    let mut local = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        let c = match c {
            '"' => return Ok((local, &s[i + 1..])),
            '\\' => chars.next().ok_or(MailboxError::Unterminated)?.1,
            c => c,
        };
        if matches!(c, '<' | '>' | ' ') {
            return Err(MailboxError::UnsafeQuoted);
        }
        local.push(c);
    }
    Err(MailboxError::Unterminated)
}

/// RFC 5321 atext, plus the dot and (RFC 6531) any non-ASCII character.
fn is_dot_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || !c.is_ascii()
}

fn is_dot_string(local: &str) -> bool {
    !local.is_empty()
        && local.chars().all(is_dot_string_char)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
}

/// A name (letters, digits, `-`, `_`, dots; non-ASCII for IDN) or an address literal `[...]`.
fn check_domain(domain: &str) -> Result<(), MailboxError> {
    let ok = match domain.strip_prefix('[') {
        Some(literal) => literal.strip_suffix(']').is_some_and(|inner| {
            !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '[' | ']' | '\\'))
        }),
        None => {
            !domain.is_empty()
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c) || !c.is_ascii())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(MailboxError::BadDomain)
    }
}

#[cfg(test)]
#[path = "mailbox_tests.rs"]
mod tests;
