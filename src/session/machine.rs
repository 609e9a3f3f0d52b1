//! Sans-IO SMTP server state machine (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
//! ENHANCEDSTATUSCODES, DSN, CHUNKING and STARTTLS). Bytes in, [`Action`]s out. It never touches a socket,
//! a clock or the disk, so it can be driven line by line from tests and fuzzers; the driver in
//! `session.rs` does the I/O and answers [`Action::Deliver`] with [`Machine::delivered`].

use smtp_proto::Request;

use super::budget::{MemoryBudget, Reservation};
use super::data::DataReader;
use super::params::{memchr, parse_error_reply, size_param_overflows};

use super::login::{self, AuthOffer, Login, Step};
use super::reply::{self, Reply};
use crate::config::hardening::BareNewlines;
use crate::envelope::Envelope;

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
    /// The client opened with a TLS handshake on this plain port: log it once and close,
    /// without a reply (it could not read one).
    ClientSpeaksTls,
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
    /// Reading the `left` octets of a BDAT chunk (into `Machine::chunks`, or thrown away when
    /// the chunk is refused); `last`: the chunk had `LAST`.
    Bdat {
        left: u64,
        last: bool,
    },
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
    /// CRAM-MD5 is offered with this challenge (only when any login is accepted: checking it
    /// needs the plaintext password, and accounts keep only an argon2 hash).
    cram_challenge: Option<String>,
    /// The message of a BDAT transaction, between its chunks; `None` for a refused one.
    chunks: Option<Box<DataReader>>,
    /// The refusal owed at the end of a refused BDAT chunk.
    chunk_refusal: Option<Reply>,
    /// The sender of the current transaction, or of the one just refused (until the next
    /// MAIL, RSET or EHLO), for the mail log of a refusal.
    last_sender: Option<String>,
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
            cram_challenge: None,
            chunks: None,
            chunk_refusal: None,
            last_sender: None,
        }
    }

    /// Offers CRAM-MD5 with this challenge (`<unique@host>`), for relays that accept any login.
    pub fn with_cram_md5(mut self, challenge: Option<String>) -> Self {
        self.cram_challenge = challenge;
        self
    }

    /// The sender of the current transaction, or of the one just refused (for the mail log).
    pub fn last_sender(&self) -> Option<&str> {
        self.last_sender.as_deref()
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
        matches!(self.phase, Phase::Data(_) | Phase::Bdat { .. })
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
                Phase::Bdat { .. } => pos += self.chunk_bytes(&input[pos..], out),
                // A TLS record (handshake, 0x16) where a command should start: a program set
                // to SSL on a plain port. Nothing it could read is worth sending.
                Phase::Command if input[pos] == 0x16 && !self.tls => {
                    self.phase = Phase::Closed;
                    out.push(Action::ClientSpeaksTls);
                    return input.len();
                }
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
        self.last_sender = None;
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
        self.reset();
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
                self.reset();
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
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size as u64, is_last, out),
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

    /// Forgets the transaction, a BDAT message in progress included.
    fn reset(&mut self) {
        self.tx = None;
        self.last_sender = None;
        self.chunks = None;
        self.chunk_refusal = None;
    }

    fn hello(&mut self, host: String, esmtp: bool, out: &mut Vec<Action>) {
        self.helo = Some(host);
        self.esmtp = esmtp;
        self.reset();
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
            "CHUNKING".into(),
        ];
        if self.limits.tls_available && !self.tls {
            lines.push("STARTTLS".into());
        }
        if self.auth_available() {
            lines.push(format!("AUTH {}", self.mechanisms()).into());
        }
        lines.push("HELP".into());
        out.push(Action::Reply(Reply {
            code: 250,
            status: None,
            lines,
        }));
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
}

#[path = "machine_auth.rs"]
mod auth;
#[path = "machine_mail.rs"]
mod mail;
#[path = "machine_data.rs"]
mod message;

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "hostile_tests.rs"]
mod hostile_tests;

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod legacy_tests;
