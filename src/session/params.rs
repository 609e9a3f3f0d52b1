//! Checks and conversions of MAIL/RCPT parameters and of parser errors, for the machine. Pure
//! functions of the command line or of smtp-proto's output; never replies by themselves.

use smtp_proto::Error as ProtoError;

use super::reply::{self, Reply};
use crate::envelope::Notify;

pub(super) fn notify_from_flags(flags: u64) -> Option<Notify> {
    if flags & smtp_proto::RCPT_NOTIFY_NEVER != 0 {
        return Some(Notify::Never);
    }
    let success = flags & smtp_proto::RCPT_NOTIFY_SUCCESS != 0;
    let failure = flags & smtp_proto::RCPT_NOTIFY_FAILURE != 0;
    let delay = flags & smtp_proto::RCPT_NOTIFY_DELAY != 0;
    (success || failure || delay).then_some(Notify::On {
        success,
        failure,
        delay,
    })
}

pub(super) fn parse_error_reply(e: ProtoError) -> Reply {
    match e {
        ProtoError::UnknownCommand => reply::unknown_command(),
        ProtoError::InvalidSenderAddress => reply::bad_sender_syntax(),
        ProtoError::InvalidRecipientAddress => reply::bad_recipient_syntax(),
        ProtoError::SyntaxError { syntax } => reply::syntax(format!("Syntax: {syntax}")),
        ProtoError::InvalidParameter { param } => {
            reply::syntax(format!("Invalid {param} parameter"))
        }
        ProtoError::UnsupportedParameter { param } => reply::unsupported_parameter(&param),
        ProtoError::ResponseTooLong => reply::line_too_long(),
        _ => reply::syntax("Syntax error"),
    }
}

/// RFC 3461 4: ENVID and ORCPT are xtext whose decoded value is printable. A decoded CR or LF
/// would otherwise become extra lines in the `message/delivery-status` of a bounce; non-ASCII
/// is let through for SMTPUTF8 addresses (RFC 6533), control characters never.
pub(super) fn dsn_printable(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

/// smtp-proto wraps a `SIZE=` of more than 20 digits round to a small number, which would then
/// pass the limit: the raw MAIL line is checked first, so such a size is refused, not believed.
pub(super) fn size_param_overflows(line: &[u8]) -> bool {
    if line.len() < 4 || !line[..4].eq_ignore_ascii_case(b"MAIL") {
        return false;
    }
    let upper = line.to_ascii_uppercase();
    memchr::memmem::find_iter(&upper, b" SIZE=").any(|at| {
        let value = &upper[at + 6..];
        let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
        digits > 0
            && std::str::from_utf8(&value[..digits])
                .ok()
                .and_then(|d| d.parse::<u64>().ok())
                .is_none()
    })
}

pub(super) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}
