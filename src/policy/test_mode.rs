//! Test mode: every recipient is replaced by one test address, the original recipients are kept
//! in `X-Original-To:` / `X-Original-Cc:` (and `X-Original-Bcc:` for envelope-only ones), and the
//! subject gets a prefix, so a payroll run can be rehearsed without mailing a single employee.

use super::headers::{self, Edits, Field};
use super::rewrite::split_mailbox;
use crate::config::TestModeConfig;
use crate::envelope::{Envelope, Recipient};

pub fn redirect(env: &mut Envelope, fields: &[Field], cfg: &TestModeConfig, edits: &mut Edits) {
    let Some(target) = cfg.redirect_to.as_deref() else {
        return;
    };
    let to = headers::get(fields, "To").map(|f| f.value.clone());
    let cc = headers::get(fields, "Cc").map(|f| f.value.clone());
    let in_headers = |a: &str| {
        let a = a.to_lowercase();
        [&to, &cc].iter().any(|h| {
            h.as_deref().is_some_and(|v| {
                v.split(',')
                    .any(|m| split_mailbox(m).1.eq_ignore_ascii_case(&a))
            })
        })
    };
    let hidden: Vec<String> = env
        .recipients
        .iter()
        .map(|r| r.address.clone())
        .filter(|a| !in_headers(a))
        .collect();
    if let Some(v) = to {
        edits.add("X-Original-To", v);
    }
    if let Some(v) = cc {
        edits.add("X-Original-Cc", v);
    }
    if !hidden.is_empty() {
        edits.add("X-Original-Bcc", hidden.join(", "));
    }
    let subject = headers::get(fields, "Subject")
        .map(|f| f.value.clone())
        .unwrap_or_default();
    if !subject.starts_with(cfg.subject_prefix.trim_end()) || cfg.subject_prefix.trim().is_empty() {
        edits.set("Subject", format!("{}{subject}", cfg.subject_prefix));
    }
    let notify = env.recipients.first().and_then(|r| r.notify);
    env.recipients = vec![Recipient {
        address: target.to_string(),
        orcpt: None,
        notify,
    }];
}
