//! DATA and BDAT (RFC 3030 CHUNKING) for the machine: both feed one [`DataReader`], so the
//! size limit, the bare-newline rule and the memory budget are the same whichever the client
//! uses, and both end in the same hand-over to the driver. Split from `machine.rs` for size;
//! same contract: no I/O.

use super::super::data::{self, DataReader, Outcome};
use super::super::reply;
use super::{Action, Machine, Phase, Reservation, Transaction};

impl Machine {
    pub(super) fn start_data(&mut self, out: &mut Vec<Action>) {
        if self.chunks.is_some() {
            // RFC 3030 2: DATA inside a BDAT transaction is a sequence error.
            self.reset();
            return self.error(reply::data_after_bdat(), out);
        }
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

    /// `BDAT size [LAST]`: the chunk's octets follow the command line at once. A refused chunk
    /// is still read (and thrown away) before its refusal, or its octets would be taken for
    /// commands (RFC 3030 2).
    pub(super) fn bdat(&mut self, size: u64, last: bool, out: &mut Vec<Action>) {
        let refusal = match &self.tx {
            None => Some(reply::need_mail()),
            Some(tx) if tx.recipients.is_empty() => Some(reply::need_rcpt()),
            Some(_) => None,
        };
        match refusal {
            Some(r) => {
                self.chunks = None;
                self.chunk_refusal = Some(r);
            }
            None if self.chunks.is_none() && self.chunk_refusal.is_none() => {
                let mut reader =
                    DataReader::chunked(self.bare_newlines, self.limits.max_message_size);
                if let Some(budget) = &self.memory {
                    reader = reader.with_memory(budget.reservation());
                }
                self.chunks = Some(Box::new(reader));
            }
            None => {}
        }
        self.phase = Phase::Bdat { left: size, last };
        if size == 0 {
            self.chunk_done(last, out);
        }
    }

    /// Octets of the current BDAT chunk; returns how many were consumed.
    pub(super) fn chunk_bytes(&mut self, input: &[u8], out: &mut Vec<Action>) -> usize {
        let Phase::Bdat { left, last } = &mut self.phase else {
            return 0;
        };
        let take = input
            .len()
            .min(usize::try_from(*left).unwrap_or(usize::MAX));
        *left -= take as u64;
        let (done, last) = (*left == 0, *last);
        if let Some(reader) = &mut self.chunks {
            reader.ingest(&input[..take]);
        }
        if done {
            self.chunk_done(last, out);
        }
        take
    }

    /// A whole chunk was read: acknowledge it, or end the message with the last one.
    fn chunk_done(&mut self, last: bool, out: &mut Vec<Action>) {
        self.phase = Phase::Command;
        if let Some(r) = self.chunk_refusal.take() {
            self.chunks = None;
            self.tx = None;
            return self.error(r, out);
        }
        if !last {
            let size = self.chunks.as_ref().map_or(0, |c| c.size());
            out.push(Action::Reply(reply::chunk_received(size)));
            return;
        }
        let Some(reader) = self.chunks.take() else {
            return self.error(reply::need_mail(), out);
        };
        let (outcome, memory) = reader.finish_chunks();
        self.finish_message(outcome, memory, out);
    }

    /// Feeds message bytes; returns how many were consumed.
    pub(super) fn data(&mut self, input: &[u8], out: &mut Vec<Action>) -> usize {
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
        self.finish_message(outcome, memory, out);
        used
    }

    /// The whole message was read (DATA or the last BDAT chunk): hand it to the driver, or
    /// refuse it.
    pub(super) fn finish_message(
        &mut self,
        outcome: Outcome,
        memory: Option<Reservation>,
        out: &mut Vec<Action>,
    ) {
        let refusal = match outcome {
            Outcome::TooBig { size } => reply::message_too_big(size, self.limits.max_message_size),
            Outcome::OverBudget => reply::memory_budget_spent(),
            Outcome::Refused(flaw) => reply::bad_line_ends(flaw),
            Outcome::Body(body) if data::hop_count(&body) >= data::MAX_HOPS => reply::mail_loop(),
            Outcome::Body(body) => {
                let envelope = self.tx.take().expect("a message always has a transaction");
                self.phase = Phase::AwaitingDelivery;
                out.push(Action::Deliver(Box::new(Transaction {
                    envelope,
                    body,
                    memory,
                })));
                return;
            }
        };
        self.tx = None;
        out.push(Action::Reply(refusal));
    }
}
