//! MAIL and RCPT for the machine: the envelope, built from what the client sent and checked at
//! the edge (the mailbox as [`Mailbox`](crate::envelope::Mailbox), DSN parameters printable, the
//! declared size). Split from `machine.rs` for size; same contract: no I/O.

use smtp_proto::{MailFrom, RcptTo};

use super::super::address;
use super::super::params::{dsn_printable, notify_from_flags};
use super::super::reply;
use super::{Action, Machine, Phase};
use crate::envelope::{BodyType, Envelope, Recipient, Ret};

impl Machine {
    pub(super) fn mail(
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
        self.last_sender = Some(sender.clone());
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
            let r = reply::message_too_big(from.size as u64, self.limits.max_message_size);
            return self.error(r, out);
        }
        // A declared size the memory budget cannot hold now: say so before the client sends it.
        if self
            .memory
            .as_ref()
            .is_some_and(|b| from.size as u64 > b.available())
        {
            out.push(Action::Reply(reply::memory_budget_spent()));
            return;
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
        let utf8_sender = !sender.is_ascii();
        self.tx = Some(Envelope {
            mail_from: sender,
            body,
            // A UTF-8 address sent without the parameter (msmtp, Perl, swaks, sendEmail) still
            // needs it: marked here, so it is never relayed bare (RFC 6531).
            smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0 || utf8_sender,
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

    pub(super) fn rcpt(
        &mut self,
        to: RcptTo<std::borrow::Cow<'_, str>>,
        line: &[u8],
        out: &mut Vec<Action>,
    ) {
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
        tx.smtputf8 |= !rcpt.is_ascii();
        let notify = notify_from_flags(to.flags);
        tx.recipients.push(Recipient {
            address: rcpt,
            orcpt: to.orcpt.map(|o| o.into_owned()),
            notify,
        });
        out.push(Action::Reply(reply::recipient_ok()));
    }
}
