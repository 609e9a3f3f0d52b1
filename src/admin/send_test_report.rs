//! Where a send-test's lines go: printed to the terminal as they happen (the CLI), or kept in a
//! list (the console's Tester button, which shows the same steps in the browser). Every text
//! comes from the message catalog in the test's language; the server's own replies and the
//! certificate facts are shown as they are. Never carries a password.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::catalog::{Lang, text};
use crate::upstream::trace::Step;

/// One line of a send-test's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    /// Which upstream is tested and how it is reached.
    Start { upstream: String, how: String },
    /// A step of the conversation, `ms` after the start.
    Step {
        ms: u128,
        label: String,
        text: String,
    },
    /// The test passed; the sentence says what was proven.
    Ok { text: String },
    /// The test failed: the verdict's stable code, what is wrong, the fix, and the error seen.
    Failed {
        code: &'static str,
        what: String,
        fix: String,
        error: String,
    },
    /// Something to paste into the configuration (the `tls_fingerprint` line).
    Advice { text: String },
}

/// Receives a send-test's lines as they happen.
pub trait Report: Sync {
    fn line(&self, line: Line);
}

/// The CLI's report: each line printed at once, in the format scripts and tests read.
pub struct Terminal;

impl Report for Terminal {
    fn line(&self, line: Line) {
        match line {
            Line::Start { upstream, how } => println!("send-test: upstream \"{upstream}\" {how}"),
            Line::Step { ms, label, text } => {
                let mut lines = text.lines();
                println!("[{ms:>5} ms] {label:<11} {}", lines.next().unwrap_or(""));
                for l in lines {
                    println!("{:<23}{l}", "");
                }
            }
            Line::Ok { text } => println!("OK: {text}\n"),
            Line::Failed {
                code,
                what,
                fix,
                error,
            } => {
                println!("FAILED ({code}): {what}");
                println!("  error: {error}");
                println!("  fix:   {fix}\n");
            }
            Line::Advice { text } => println!("  {text}\n"),
        }
    }
}

/// The console's report: the lines kept in order for one answer.
#[derive(Default)]
pub struct Collected(Mutex<Vec<Line>>);

impl Collected {
    pub fn into_lines(self) -> Vec<Line> {
        self.0.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl Report for Collected {
    fn line(&self, line: Line) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

/// A traced connection step as a report line, its words in `lang`.
pub fn step_line(at: Duration, step: &Step, lang: Lang) -> Line {
    let t = |id: &str, args: &[(&str, &str)]| text(lang, id, args);
    let (label, body) = match step {
        Step::Resolved { host, addrs } => {
            let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            let list = list.join(", ");
            (
                "DNS",
                t(
                    "sendtest-step-resolved",
                    &[("host", host), ("addrs", &list)],
                ),
            )
        }
        Step::Connected { addr } => (
            "TCP",
            t("sendtest-step-connected", &[("addr", &addr.to_string())]),
        ),
        Step::Tls {
            version,
            cipher,
            certificates,
        } => (
            "TLS",
            t(
                "sendtest-step-tls",
                &[
                    ("version", version),
                    ("cipher", cipher),
                    ("count", &certificates.to_string()),
                ],
            ),
        ),
        Step::Reply { stage, reply } => (*stage, reply.text.clone()),
        Step::Auth { mechanism, offered } => (
            "AUTH",
            t(
                "sendtest-step-auth",
                &[("mechanism", mechanism), ("offered", &offered.join(" "))],
            ),
        ),
        Step::ServerCertificate(f) => ("certificate", format!("{}\n{}", f.sha256, f.summary())),
        Step::ClientCertificate { asked, sent } => {
            let sent = sent.as_ref().map(|f| f.summary()).unwrap_or_default();
            let id = match asked {
                true => "sendtest-step-client-cert-sent",
                false => "sendtest-step-client-cert-not-asked",
            };
            ("client cert", t(id, &[("cert", &sent)]))
        }
        Step::Note(n) => ("note", n.clone()),
    };
    Line::Step {
        ms: at.as_millis(),
        label: label.to_string(),
        text: body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_in_the_language_of_the_test() {
        let step = Step::Connected {
            addr: "127.0.0.1:2587".parse().unwrap(),
        };
        let en = step_line(Duration::from_millis(3), &step, Lang::En);
        assert_eq!(
            en,
            Line::Step {
                ms: 3,
                label: "TCP".into(),
                text: "connected to 127.0.0.1:2587".into()
            }
        );
        let Line::Step { text: fr, .. } = step_line(Duration::ZERO, &step, Lang::Fr) else {
            panic!("a step")
        };
        assert_ne!(fr, "connected to 127.0.0.1:2587");
    }

    #[test]
    fn the_collected_report_keeps_every_line_in_order() {
        let c = Collected::default();
        c.line(Line::Ok { text: "a".into() });
        c.line(Line::Advice { text: "b".into() });
        assert_eq!(
            c.into_lines(),
            vec![
                Line::Ok { text: "a".into() },
                Line::Advice { text: "b".into() }
            ]
        );
    }
}
