//! The DATA reader: turns the bytes a client sends after `354` (or in `BDAT` chunks, RFC 3030)
//! into the message, byte by byte and across any chunking. Owns the end-of-data rule,
//! dot-unstuffing, the bare CR / bare LF / NUL rule, the size limit and the memory budget, the
//! same for DATA and BDAT. Never replies and never does I/O: the machine asks it for an
//! [`Outcome`] once the end-of-data line has been read.
//!
//! Why it is not smtp-proto's `DataReceiver`: that one ends DATA at `CRLF . CR CR LF` and at a
//! `.` on the first line only sometimes, which lets a client smuggle a second transaction past
//! us (RFC 5321 4.1.1.4: only `CRLF . CRLF` ends the data), and it relays bare CR and bare LF,
//! which lets a client smuggle one past the next server.

use super::budget::Reservation;
use crate::config::hardening::BareNewlines;

/// What the client sent that the configured rule refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// A CR not followed by LF, or an LF not preceded by CR.
    BareNewline,
    /// A NUL byte.
    Nul,
}

/// The message, once the end-of-data line has been read.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Dot-unstuffed, every line ending CRLF, without the terminating `.` line.
    Body(Vec<u8>),
    /// Larger than the limit (`size` bytes in all); the rest was read and thrown away.
    TooBig { size: u64 },
    /// Refused under `bare_newlines = "reject"`; the rest was read and thrown away.
    Refused(Flaw),
    /// All sessions together hold `[server] memory_budget` of messages; the rest was read
    /// and thrown away.
    OverBudget,
}

/// Where the reader is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// At the first byte of a line. `crlf`: the previous line ended with a real CRLF (or this
    /// is the first line), so a `.` line here may end the data.
    Start {
        crlf: bool,
    },
    /// Read a `.` at the start of a line; what follows decides whether it ends the data.
    Dot {
        crlf: bool,
    },
    Middle,
}

pub struct DataReader {
    rule: BareNewlines,
    max_size: u64,
    body: Vec<u8>,
    /// Bytes of content so far, kept counting after the body is thrown away.
    size: u64,
    line: Line,
    /// The last byte read was a CR; whether it is bare depends on the next byte.
    pending_cr: bool,
    flaw: Option<Flaw>,
    /// Memory the body holds, from the shared budget; `None`: no budget.
    memory: Option<Reservation>,
    over_budget: bool,
    /// BDAT: no dot-stuffing and no end-of-data line; the chunk sizes say where it ends.
    chunked: bool,
}

impl DataReader {
    pub fn new(rule: BareNewlines, max_size: u64) -> Self {
        DataReader {
            rule,
            max_size,
            body: Vec::with_capacity(16 * 1024),
            size: 0,
            line: Line::Start { crlf: true },
            pending_cr: false,
            flaw: None,
            memory: None,
            over_budget: false,
            chunked: false,
        }
    }

    /// A reader for `BDAT` chunks (RFC 3030): the bytes are the message as is, without
    /// dot-stuffing; the same bare-newline rule, size limit and memory budget apply.
    pub fn chunked(rule: BareNewlines, max_size: u64) -> Self {
        DataReader {
            chunked: true,
            ..DataReader::new(rule, max_size)
        }
    }

    /// The last BDAT chunk was read: a CR at its very end is a bare one.
    pub fn finish_chunks(mut self) -> (Outcome, Option<Reservation>) {
        if std::mem::take(&mut self.pending_cr) {
            self.bare_line_end();
        }
        self.finish()
    }

    /// Bytes of content so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Counts the body against a shared memory budget.
    pub fn with_memory(mut self, memory: Reservation) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Consumes `input` up to and including the end-of-data line. Returns how many bytes were
    /// used and whether the end was reached (then call [`DataReader::finish`]).
    pub fn ingest(&mut self, input: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    i += 1;
                    if self.line_ended_by_crlf() && !self.chunked {
                        return (i, true);
                    }
                    continue;
                }
                // A bare CR: handled as a line end, and `b` is read again on the next line.
                self.bare_line_end();
                continue;
            }
            match (self.line, b) {
                (Line::Start { crlf }, b'.') if !self.chunked => {
                    self.line = Line::Dot { crlf };
                    i += 1;
                    continue;
                }
                (Line::Dot { .. }, b'\r') => {
                    self.pending_cr = true;
                    i += 1;
                    continue;
                }
                // A dot followed by anything else was the client's dot-stuffing: dropped.
                (Line::Dot { .. }, b) if b != b'\n' => self.line = Line::Middle,
                _ => {}
            }
            i += self.content(&input[i..]);
        }
        (i, false)
    }

    /// The message, or why there is none; call once `ingest` reported the end. The
    /// reservation comes with the body: the memory stays counted until it is dropped.
    pub fn finish(self) -> (Outcome, Option<Reservation>) {
        let outcome = if self.size > self.max_size {
            Outcome::TooBig { size: self.size }
        } else if let Some(flaw) = self.flaw {
            Outcome::Refused(flaw)
        } else if self.over_budget {
            Outcome::OverBudget
        } else {
            Outcome::Body(self.body)
        };
        (outcome, self.memory)
    }

    /// A CRLF was read: true when it ends the data (`CRLF . CRLF`).
    fn line_ended_by_crlf(&mut self) -> bool {
        match self.line {
            Line::Dot { crlf: true } => return true,
            // A lone dot after a bare line end is not a terminator: it stays content.
            Line::Dot { crlf: false } => self.emit(b"."),
            _ => {}
        }
        self.emit(b"\r\n");
        self.line = Line::Start { crlf: true };
        false
    }

    /// A bare CR or bare LF: a line end that can never be followed by the terminator.
    fn bare_line_end(&mut self) {
        if matches!(self.line, Line::Dot { .. }) {
            // `CRLF . LF` and `CRLF . CR x`: the dot was a line of its own, kept as content.
            self.emit(b".");
        }
        self.refuse_under_reject(Flaw::BareNewline);
        self.emit(b"\r\n");
        self.line = Line::Start { crlf: false };
    }

    /// Reads ordinary content starting at `rest[0]`; returns how many bytes it used.
    fn content(&mut self, rest: &[u8]) -> usize {
        match rest[0] {
            b'\r' => self.pending_cr = true,
            b'\n' => self.bare_line_end(),
            0 => {
                // Removed under "normalize": no server downstream wants it.
                self.refuse_under_reject(Flaw::Nul);
                self.line = Line::Middle;
            }
            _ => {
                let run = memchr::memchr3(b'\r', b'\n', 0, rest).unwrap_or(rest.len());
                self.emit(&rest[..run]);
                self.line = Line::Middle;
                return run;
            }
        }
        1
    }

    fn refuse_under_reject(&mut self, flaw: Flaw) {
        if self.rule == BareNewlines::Reject && self.flaw.is_none() {
            self.flaw = Some(flaw);
            self.body = Vec::new();
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.size > self.max_size {
            // Over the limit: keep reading to the end, keep nothing.
            self.body = Vec::new();
            return;
        }
        if self.flaw.is_some() || self.over_budget {
            return;
        }
        let room = self.body.len() + bytes.len();
        if let Some(memory) = &mut self.memory
            && !memory.cover(room as u64)
        {
            self.over_budget = true;
            self.body = Vec::new();
            return;
        }
        self.body.extend_from_slice(bytes);
    }
}

/// Trace fields (`Received:`) in the header section: RFC 5321 6.3 counts them to stop loops.
pub fn hop_count(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .take_while(|line| !line.is_empty() && *line != b"\r")
        .filter(|line| line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:"))
        .count()
}

/// This many trace fields and the message is taken to be looping (refused with `554 5.4.6`).
pub const MAX_HOPS: usize = 100;

#[cfg(test)]
#[path = "data_tests.rs"]
mod tests;
