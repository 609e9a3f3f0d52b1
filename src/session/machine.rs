//! Sans-IO SMTP server state machine (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
//! ENHANCEDSTATUSCODES, DSN and STARTTLS). Bytes in, [`Action`]s out. It never touches a socket,
//! a clock or the disk, so it can be driven line by line from tests and fuzzers; the driver in
//! `session.rs` does the I/O and answers [`Action::Deliver`] with [`Machine::delivered`].

use smtp_proto::{Error as ProtoError, MailFrom, RcptTo, Request};

use super::address;
use super::budget::{MemoryBudget, Reservation};
use super::data::{self, DataReader, Outcome};

use super::login::{self, AuthOffer, Login, Step};
use super::reply::{self, Reply};
use crate::config::hardening::BareNewlines;
use crate::envelope::{BodyType, Envelope, Notify, Recipient, Ret};

/// Longest command line accepted, CRLF included (RFC 5321 4.5.3.1.6 text line limit).
pub const MAX_LINE: usize = 1000;

/// What the session is allowed to offer; fixed for the connection.
#[derive(Debug, Clone)]
pub struct Limits {
    pub hostname: String,
    pub max_message_size: u64,
    pub max_errors: u32,
    pub max_recipients: usize,
    /// A server certificate is configured, so STARTTLS may be offered.
    pub tls_available: bool,
}

#[derive(Debug, PartialEq)]
pub enum Action {
    Reply(Reply),
    /// The `220` for STARTTLS has been queued: flush it, drop any buffered input, handshake, then
    /// call [`Machine::tls_established`].
    StartTls,
    /// A complete message: store it, then call [`Machine::delivered`] for the reply.
    Deliver(Box<Transaction>),
    /// Check these credentials, then call [`Machine::authenticated`] for the reply.
    Authenticate(Login),
    /// Check this envelope sender (SPF in reject mode), then call [`Machine::sender_checked`]
    /// for the reply to MAIL.
    CheckSender(String),
    /// Flush queued replies and close the connection.
    Close,
}

/// One mail transaction, from MAIL to the final dot.
#[derive(Debug, PartialEq)]
pub struct Transaction {
    pub envelope: Envelope,
    /// The message as received, dot-unstuffed, without the terminating `.` line.
    pub body: Vec<u8>,
    /// The body's share of `[server] memory_budget`, given back when this is dropped.
    pub memory: Option<Reservation>,
}

enum Phase {
    Command,
    /// Discarding an over-long command line until its LF.
    LongLine,
    Data(Box<DataReader>),
    /// The driver owes us a `delivered` call.
    AwaitingDelivery,
    /// Reading the client's response lines of an AUTH exchange.
    AuthResponse(Step),
    /// The driver owes us an `authenticated` call.
    AwaitingAuth,
    /// The driver owes us a `sender_checked` call.
    AwaitingSender,
    Closed,
}

/// A check of each recipient at RCPT time (the blacklist); pure and quick, no I/O.
pub trait RcptFilter: Send + Sync {
    /// `Some(reply)` refuses the recipient.
    fn check(&self, sender: &str, rcpt: &str) -> Option<Reply>;

    /// At MAIL: `Some(reply)` refuses to start the transaction (a client over its rate).
    fn check_mail(&self, _sender: &str) -> Option<Reply> {
        None
    }
}

pub struct Machine {
    filter: Option<std::sync::Arc<dyn RcptFilter>>,
    limits: Limits,
    phase: Phase,
    helo: Option<String>,
    esmtp: bool,
    tls: bool,
    errors: u32,
    tx: Option<Envelope>,
    auth_offer: AuthOffer,
    auth_required: bool,
    user: Option<String>,
    /// MAIL waits for the driver's [`Action::CheckSender`] verdict.
    sender_check: bool,
    bare_newlines: BareNewlines,
    memory: Option<std::sync::Arc<MemoryBudget>>,
}

impl Machine {
    pub fn new(limits: Limits, tls: bool) -> Self {
        Machine {
            filter: None,
            limits,
            phase: Phase::Command,
            helo: None,
            esmtp: false,
            tls,
            errors: 0,
            tx: None,
            auth_offer: AuthOffer::Off,
            auth_required: false,
            user: None,
            sender_check: false,
            bare_newlines: BareNewlines::default(),
            memory: None,
        }
    }

    /// Counts every body against this budget, shared with the other sessions.
    pub fn with_memory_budget(mut self, budget: std::sync::Arc<MemoryBudget>) -> Self {
        self.memory = Some(budget);
        self
    }

    /// What to do with bare CR, bare LF and NUL inside DATA (`[server] bare_newlines`).
    pub fn with_bare_newlines(mut self, rule: BareNewlines) -> Self {
        self.bare_newlines = rule;
        self
    }

    /// Hand every MAIL sender to the driver for a check before answering it.
    pub fn with_sender_check(mut self, on: bool) -> Self {
        self.sender_check = on;
        self
    }

    /// The driver checked the sender of `CheckSender`: `Some(reply)` refuses it.
    pub fn sender_checked(&mut self, refusal: Option<Reply>) -> Reply {
        debug_assert!(matches!(self.phase, Phase::AwaitingSender));
        self.phase = Phase::Command;
        match refusal {
            Some(r) => {
                self.tx = None;
                r
            }
            None => reply::sender_ok(),
        }
    }

    /// Client accounts exist (`offer`), and whether this session must log in before MAIL.
    pub fn with_auth(mut self, offer: AuthOffer, required: bool) -> Self {
        self.auth_offer = offer;
        self.auth_required = required;
        self
    }

    /// Tightens the limits for the account that logged in (never loosens the server's).
    pub fn restrict(&mut self, max_recipients: Option<usize>, max_message_size: Option<u64>) {
        if let Some(n) = max_recipients {
            self.limits.max_recipients = self.limits.max_recipients.min(n);
        }
        if let Some(n) = max_message_size {
            self.limits.max_message_size = self.limits.max_message_size.min(n);
        }
    }

    /// The client account this session logged in as.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The driver checked the credentials of `Authenticate`: the account name, or `None`.
    pub fn authenticated(&mut self, account: Option<String>) -> Reply {
        self.phase = Phase::Command;
        match account {
            Some(name) => {
                self.user = Some(name);
                reply::auth_ok()
            }
            None => {
                self.errors += 1;
                reply::auth_failed()
            }
        }
    }

    fn auth_available(&self) -> bool {
        match self.auth_offer {
            AuthOffer::Off => false,
            AuthOffer::TlsOnly => self.tls,
            AuthOffer::AlsoPlaintext => true,
        }
    }

    fn auth(&mut self, mechanism: u64, initial: &str, out: &mut Vec<Action>) {
        if self.auth_offer == AuthOffer::Off {
            return self.error(reply::not_implemented("AUTH"), out);
        }
        if self.user.is_some() || self.tx.is_some() {
            return self.error(reply::auth_bad_sequence(), out);
        }
        if !self.auth_available() {
            // RFC 4954: a mechanism that needs encryption, asked for without it.
            return self.error(reply::encryption_required(), out);
        }
        let initial = initial.trim();
        match mechanism {
            smtp_proto::AUTH_PLAIN if initial.is_empty() => {
                self.phase = Phase::AuthResponse(Step::Plain);
                out.push(Action::Reply(reply::auth_challenge("")));
            }
            smtp_proto::AUTH_PLAIN => self.auth_response(Step::Plain, initial, out),
            smtp_proto::AUTH_LOGIN if initial.is_empty() => {
                self.phase = Phase::AuthResponse(Step::LoginUser);
                out.push(Action::Reply(reply::auth_challenge("VXNlcm5hbWU6")));
            }
            smtp_proto::AUTH_LOGIN => self.auth_response(Step::LoginUser, initial, out),
            _ => self.error(reply::auth_mechanism_unknown(), out),
        }
    }

    fn auth_response(&mut self, step: Step, line: &str, out: &mut Vec<Action>) {
        self.phase = Phase::Command;
        let line = line.trim();
        if line == "*" {
            return self.error(reply::auth_cancelled(), out);
        }
        // "=" is an empty initial response (RFC 4954).
        let text = if line == "=" {
            Some(String::new())
        } else {
            login::decode(line)
        };
        let Some(text) = text else {
            return self.error(reply::auth_bad_base64(), out);
        };
        match step {
            Step::Plain => match login::plain(&text) {
                Some(l) => self.authenticate(l, out),
                None => self.error(reply::auth_failed(), out),
            },
            Step::LoginUser => {
                self.phase = Phase::AuthResponse(Step::LoginPassword(text));
                out.push(Action::Reply(reply::auth_challenge("UGFzc3dvcmQ6")));
            }
            Step::LoginPassword(username) => self.authenticate(
                Login {
                    username,
                    password: text,
                },
                out,
            ),
        }
    }

    fn authenticate(&mut self, l: Login, out: &mut Vec<Action>) {
        self.phase = Phase::AwaitingAuth;
        out.push(Action::Authenticate(l));
    }

    pub fn with_filter(mut self, filter: std::sync::Arc<dyn RcptFilter>) -> Self {
        self.filter = Some(filter);
        self
    }

    pub fn greeting(&self) -> Reply {
        reply::greeting(&self.limits.hostname)
    }

    pub fn helo_name(&self) -> Option<&str> {
        self.helo.as_deref()
    }

    pub fn is_esmtp(&self) -> bool {
        self.esmtp
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn in_data(&self) -> bool {
        matches!(self.phase, Phase::Data(_))
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Consumes as much of `input` as it can and returns how many bytes it used. Stops early
    /// after an action the driver must carry out before more input is read (StartTls, Deliver,
    /// Close); the unused bytes must be offered again afterwards (except after StartTls).
    pub fn receive(&mut self, input: &[u8], out: &mut Vec<Action>) -> usize {
        let mut pos = 0;
        while pos < input.len() {
            match &mut self.phase {
                Phase::Closed
                | Phase::AwaitingDelivery
                | Phase::AwaitingAuth
                | Phase::AwaitingSender => break,
                Phase::LongLine => match memchr(b'\n', &input[pos..]) {
                    Some(i) => {
                        pos += i + 1;
                        self.phase = Phase::Command;
                        self.error(reply::line_too_long(), out);
                    }
                    None => pos = input.len(),
                },
                Phase::Data(_) => pos += self.data(&input[pos..], out),
                // A command, or a response line of an AUTH exchange: both are lines.
                Phase::Command | Phase::AuthResponse(_) => {
                    let rest = &input[pos..];
                    let Some(i) = memchr(b'\n', rest) else {
                        if rest.len() > MAX_LINE {
                            self.phase = Phase::LongLine;
                            pos = input.len();
                        }
                        break;
                    };
                    pos += i + 1;
                    let line = &rest[..=i];
                    match std::mem::replace(&mut self.phase, Phase::Command) {
                        _ if line.len() > MAX_LINE => self.error(reply::line_too_long(), out),
                        Phase::AuthResponse(step) => {
                            self.auth_response(step, &String::from_utf8_lossy(&rest[..i]), out)
                        }
                        _ => self.command(line, out),
                    }
                }
            }
            if out.iter().any(|a| !matches!(a, Action::Reply(_))) {
                break;
            }
        }
        pos
    }

    /// The driver stored (or failed to store) the message handed out with `Deliver`.
    pub fn delivered(&mut self, result: Result<String, Reply>) -> Reply {
        debug_assert!(matches!(self.phase, Phase::AwaitingDelivery));
        self.phase = Phase::Command;
        self.tx = None;
        match result {
            Ok(id) => reply::queued(&id),
            Err(r) => r,
        }
    }

    /// TLS is up: RFC 3207 says forget everything learnt before it.
    pub fn tls_established(&mut self) {
        self.tls = true;
        self.user = None;
        self.helo = None;
        self.esmtp = false;
        self.tx = None;
        self.phase = Phase::Command;
    }

    /// The driver gave up waiting for the client.
    pub fn timed_out(&mut self) -> Reply {
        self.phase = Phase::Closed;
        reply::timeout()
    }

    fn error(&mut self, r: Reply, out: &mut Vec<Action>) {
        self.errors += 1;
        out.push(Action::Reply(r));
        if self.errors >= self.limits.max_errors {
            out.push(Action::Reply(reply::too_many_errors()));
            out.push(Action::Close);
            self.phase = Phase::Closed;
        }
    }

    fn command(&mut self, line: &[u8], out: &mut Vec<Action>) {
        if size_param_overflows(line) {
            return self.error(reply::declared_size_too_big(), out);
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(r) => r,
            Err(e) => return self.error(parse_error_reply(e), out),
        };
        match request {
            Request::Ehlo { host } => self.hello(host.into_owned(), true, out),
            Request::Helo { host } => self.hello(host.into_owned(), false, out),
            Request::Mail { from } => self.mail(from, line, out),
            Request::Rcpt { to } => self.rcpt(to, line, out),
            Request::Data => self.start_data(out),
            Request::Rset => {
                self.tx = None;
                out.push(Action::Reply(reply::ok()));
            }
            Request::Noop { .. } => out.push(Action::Reply(reply::ok())),
            Request::Vrfy { .. } => out.push(Action::Reply(reply::vrfy())),
            Request::Help { .. } => out.push(Action::Reply(reply::help())),
            Request::Quit => {
                out.push(Action::Reply(reply::bye()));
                out.push(Action::Close);
                self.phase = Phase::Closed;
            }
            Request::StartTls => self.starttls(out),
            Request::Bdat { .. } => self.error(reply::not_implemented("BDAT"), out),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response, out),
            Request::Expn { .. } => self.error(reply::not_implemented("EXPN"), out),
            Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::Lhlo { .. } => self.error(reply::unknown_command(), out),
        }
    }

    fn hello(&mut self, host: String, esmtp: bool, out: &mut Vec<Action>) {
        self.helo = Some(host);
        self.esmtp = esmtp;
        self.tx = None;
        let first = format!(
            "{} Hello {}",
            self.limits.hostname,
            self.helo.as_deref().unwrap_or("")
        );
        if !esmtp {
            out.push(Action::Reply(Reply::plain(250, first)));
            return;
        }
        let mut lines = vec![
            first.into(),
            "PIPELINING".into(),
            format!("SIZE {}", self.limits.max_message_size).into(),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "DSN".into(),
        ];
        if self.limits.tls_available && !self.tls {
            lines.push("STARTTLS".into());
        }
        if self.auth_available() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("HELP".into());
        out.push(Action::Reply(Reply {
            code: 250,
            status: None,
            lines,
        }));
    }

    fn mail(
        &mut self,
        from: MailFrom<std::borrow::Cow<'_, str>>,
        line: &[u8],
        out: &mut Vec<Action>,
    ) {
        if self.tx.is_some() {
            return self.error(reply::nested_mail(), out);
        }
        if self.auth_required && self.user.is_none() {
            return self.error(reply::auth_required(), out);
        }
        // The sender as it will be written everywhere (a quoted local part stays quoted).
        let sender = match address::path(line) {
            Ok(m) => m.map(|m| m.to_string()).unwrap_or_default(),
            Err(e) => return self.error(reply::bad_sender_mailbox(&e), out),
        };
        if let Some(refusal) = self.filter.as_ref().and_then(|f| f.check_mail(&sender)) {
            out.push(Action::Reply(refusal));
            return;
        }
        let allowed = smtp_proto::MAIL_BODY_7BIT
            | smtp_proto::MAIL_BODY_8BITMIME
            | smtp_proto::MAIL_SMTPUTF8
            | smtp_proto::MAIL_RET_FULL
            | smtp_proto::MAIL_RET_HDRS;
        if from.flags & !allowed != 0 {
            return self.error(reply::unsupported_parameter("MAIL FROM parameter"), out);
        }
        if from.env_id.as_deref().is_some_and(|e| !dsn_printable(e)) {
            return self.error(reply::syntax("Invalid ENVID parameter"), out);
        }
        if from.size as u64 > self.limits.max_message_size {
            return self.error(reply::declared_size_too_big(), out);
        }
        let body = if from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0 {
            BodyType::EightBitMime
        } else if from.flags & smtp_proto::MAIL_BODY_7BIT != 0 {
            BodyType::SevenBit
        } else {
            BodyType::Unspecified
        };
        let ret = if from.flags & smtp_proto::MAIL_RET_FULL != 0 {
            Some(Ret::Full)
        } else if from.flags & smtp_proto::MAIL_RET_HDRS != 0 {
            Some(Ret::Hdrs)
        } else {
            None
        };
        self.tx = Some(Envelope {
            mail_from: sender,
            body,
            smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
            ret,
            envid: from.env_id.map(|e| e.into_owned()),
            recipients: Vec::new(),
            upstream: None,
            client: None,
        });
        if self.sender_check {
            self.phase = Phase::AwaitingSender;
            let sender = self.tx.as_ref().map(|t| t.mail_from.clone());
            out.push(Action::CheckSender(sender.unwrap_or_default()));
            return;
        }
        out.push(Action::Reply(reply::sender_ok()));
    }

    fn rcpt(&mut self, to: RcptTo<std::borrow::Cow<'_, str>>, line: &[u8], out: &mut Vec<Action>) {
        let max = self.limits.max_recipients;
        let Some(tx) = self.tx.as_mut() else {
            return self.error(reply::need_mail(), out);
        };
        let rcpt = match address::path(line) {
            Ok(Some(m)) => m.to_string(),
            Ok(None) => return self.error(reply::bad_recipient_syntax(), out),
            Err(e) => return self.error(reply::bad_recipient_mailbox(&e), out),
        };
        if to.orcpt.as_deref().is_some_and(|o| !dsn_printable(o)) {
            return self.error(reply::syntax("Invalid ORCPT parameter"), out);
        }
        if tx.recipients.len() >= max {
            out.push(Action::Reply(reply::too_many_recipients()));
            return;
        }
        if let Some(refusal) = self
            .filter
            .as_ref()
            .and_then(|f| f.check(&tx.mail_from, &rcpt))
        {
            out.push(Action::Reply(refusal));
            return;
        }
        let notify = notify_from_flags(to.flags);
        tx.recipients.push(Recipient {
            address: rcpt,
            orcpt: to.orcpt.map(|o| o.into_owned()),
            notify,
        });
        out.push(Action::Reply(reply::recipient_ok()));
    }

    fn start_data(&mut self, out: &mut Vec<Action>) {
        match &self.tx {
            None => self.error(reply::need_mail(), out),
            Some(tx) if tx.recipients.is_empty() => self.error(reply::need_rcpt(), out),
            Some(_) => {
                let mut reader = DataReader::new(self.bare_newlines, self.limits.max_message_size);
                if let Some(budget) = &self.memory {
                    reader = reader.with_memory(budget.reservation());
                }
                self.phase = Phase::Data(Box::new(reader));
                out.push(Action::Reply(reply::start_data()));
            }
        }
    }

    fn starttls(&mut self, out: &mut Vec<Action>) {
        if self.tls {
            return self.error(reply::tls_already_active(), out);
        }
        if !self.limits.tls_available {
            return self.error(reply::not_implemented("STARTTLS"), out);
        }
        if self.tx.is_some() {
            return self.error(reply::tls_in_transaction(), out);
        }
        out.push(Action::Reply(reply::ready_for_tls()));
        out.push(Action::StartTls);
    }

    /// Feeds message bytes; returns how many were consumed.
    fn data(&mut self, input: &[u8], out: &mut Vec<Action>) -> usize {
        let Phase::Data(reader) = &mut self.phase else {
            return 0;
        };
        let (used, done) = reader.ingest(input);
        if !done {
            return used;
        }
        let Phase::Data(reader) = std::mem::replace(&mut self.phase, Phase::Command) else {
            unreachable!()
        };
        let (outcome, memory) = reader.finish();
        let refusal = match outcome {
            Outcome::TooBig => reply::message_too_big(),
            Outcome::OverBudget => reply::memory_budget_spent(),
            Outcome::Refused(flaw) => reply::bad_line_ends(flaw),
            Outcome::Body(body) if data::hop_count(&body) >= data::MAX_HOPS => reply::mail_loop(),
            Outcome::Body(body) => {
                let envelope = self.tx.take().expect("DATA phase always has a transaction");
                self.phase = Phase::AwaitingDelivery;
                out.push(Action::Deliver(Box::new(Transaction {
                    envelope,
                    body,
                    memory,
                })));
                return used;
            }
        };
        self.tx = None;
        out.push(Action::Reply(refusal));
        used
    }
}

fn notify_from_flags(flags: u64) -> Option<Notify> {
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

fn parse_error_reply(e: ProtoError) -> Reply {
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
fn dsn_printable(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

/// smtp-proto wraps a `SIZE=` of more than 20 digits round to a small number, which would then
/// pass the limit: the raw MAIL line is checked first, so such a size is refused, not believed.
fn size_param_overflows(line: &[u8]) -> bool {
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

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "hostile_tests.rs"]
mod hostile_tests;
