//! The path of a MAIL or RCPT command, read from the raw line and checked as a [`Mailbox`].
//! smtp-proto's parser reads the parameters well but drops the quotes of a quoted local part
//! (and lets `<`, `>`, spaces and control characters through inside them), so the address is
//! taken from the line itself. Never replies: the machine turns a [`MailboxError`] into one.

use crate::envelope::{Mailbox, MailboxError};

/// The mailbox between `<` and `>` after the command's colon; `Ok(None)` for the null path `<>`.
pub fn path(line: &[u8]) -> Result<Option<Mailbox>, MailboxError> {
    let inner = bracketed(line).ok_or(MailboxError::Unterminated)?;
    if inner.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(inner).map_err(|_| MailboxError::BadLocal)?;
    Mailbox::parse(text).map(Some)
}

/// The bytes between the first `<` after the colon and its closing `>`, skipping any `>` inside
/// a quoted string (where `\` escapes the next byte).
fn bracketed(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|b| *b == b':')?;
    let open = colon + 1 + line[colon + 1..].iter().position(|b| *b == b'<')?;
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in line.iter().enumerate().skip(open + 1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'>' if !quoted => return Some(&line[open + 1..i]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_read_with_its_quotes_and_parameters_are_left_out() {
        let m = path(b"RCPT TO:<\"a@b.test\"@dest.test> NOTIFY=NEVER\r\n").unwrap();
        assert_eq!(m.unwrap().to_string(), "\"a@b.test\"@dest.test");
        assert_eq!(path(b"MAIL FROM:<> SIZE=10\r\n").unwrap(), None);
        assert_eq!(
            path(b"MAIL FROM: <a@x.test>\r\n")
                .unwrap()
                .unwrap()
                .to_string(),
            "a@x.test"
        );
    }

    #[test]
    fn a_bracket_inside_quotes_does_not_end_the_path() {
        let line = b"RCPT TO:<\"victim@target.test> ORCPT=rfc822;x\"@dest.test>\r\n";
        assert_eq!(path(line), Err(MailboxError::UnsafeQuoted));
    }
}
