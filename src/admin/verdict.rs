//! What every send-test prints at the end, and the message it sends: shared by the SMTP and the
//! Graph tests so both read alike.

use super::send_test_report::{Line, Report};
use crate::diagnose::{self, Lang, Problem, Target};

pub fn test_message(from: &str, to: &str) -> String {
    let now = chrono::Local::now();
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: smarthost send-test\r\nDate: {}\r\n\
         Message-ID: <{}.send-test@smarthost>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         This is a test message from smarthost send-test: this upstream works.\r\n",
        now.to_rfc2822(),
        crate::spool::new_queue_id()
    )
}

/// Reports the failed verdict with its fix; always false (the test did not pass).
pub fn verdict(p: Problem, target: &Target, lang: Lang, detail: &str, report: &dyn Report) -> bool {
    let (what, fix) = diagnose::explain(p, target, lang);
    report.line(Line::Failed {
        code: p.code(),
        what,
        fix,
        error: detail.to_string(),
    });
    false
}
