//! The **Tester...** button: `smarthost send-test` for one server, run by the relay itself with
//! the configuration in force, its lines kept for the answer: each step with its time, then the
//! verdict with the fix, in the caller's language. Never touches the queue; the password never
//! appears in a step.

use serde::{Deserialize, Serialize};

use super::servers::{ServerError, field};
use crate::admin::send_test::{SendTest, SendTestError, run_with};
use crate::admin::send_test_report::{Collected, Line};
use crate::catalog::{Lang, text};

/// What to test. No recipient: connection, TLS and login only (`--no-send`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    /// `en`, `fr` or `de`; else the caller's language.
    #[serde(default)]
    pub lang: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub ms: u128,
    pub label: String,
    pub text: String,
}

/// The verdict: `ok`, or the problem's stable code, with what is wrong and the fix.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub code: String,
    pub what: String,
    pub fix: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub upstream: String,
    /// Which host and port, with which CONN and AUTH.
    pub target: String,
    pub steps: Vec<Step>,
    pub verdict: Verdict,
    /// A line to paste into the configuration (the certificate's fingerprint), if any.
    pub advice: Option<String>,
}

/// Runs the test of server `name`.
pub async fn run(
    c: &super::Console,
    name: &str,
    input: TestInput,
    lang: Lang,
) -> Result<TestResult, ServerError> {
    let lang = input
        .lang
        .as_deref()
        .and_then(|l| l.parse().ok())
        .unwrap_or(lang);
    let to = input
        .to
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let from = input
        .from
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    for (key, v) in [("to", &to), ("from", &from)] {
        if v.as_deref().is_some_and(|a| !address(a)) {
            return Err(field(key, text(lang, "console-field-address", &[])));
        }
    }
    let config = c.live.config();
    let test = SendTest {
        upstream: Some(name.to_string()),
        no_send: to.is_none(),
        to,
        from,
        lang,
    };
    let report = Collected::default();
    match run_with(&config, &test, &report).await {
        Ok(_) => {}
        Err(SendTestError::NoUpstream(..)) => {
            return Err(ServerError::NotFound(text(
                lang,
                "console-server-untestable",
                &[("name", name)],
            )));
        }
        Err(e @ SendTestError::NoRecipient) => return Err(ServerError::Refused(e.to_string())),
    }
    Ok(result(name, report.into_lines()))
}

fn result(name: &str, lines: Vec<Line>) -> TestResult {
    let mut r = TestResult {
        upstream: name.to_string(),
        target: String::new(),
        steps: Vec::new(),
        verdict: Verdict {
            ok: false,
            code: "other".into(),
            what: String::new(),
            fix: None,
            error: None,
        },
        advice: None,
    };
    for line in lines {
        match line {
            Line::Start { how, .. } => r.target = how,
            Line::Step { ms, label, text } => r.steps.push(Step { ms, label, text }),
            Line::Ok { text } => {
                r.verdict = Verdict {
                    ok: true,
                    code: "ok".into(),
                    what: text,
                    fix: None,
                    error: None,
                }
            }
            Line::Failed {
                code,
                what,
                fix,
                error,
            } => {
                r.verdict = Verdict {
                    ok: false,
                    code: code.to_string(),
                    what,
                    fix: Some(fix),
                    error: Some(error),
                }
            }
            Line::Advice { text } => r.advice = Some(text),
        }
    }
    r
}

/// An address the test may use: one `@`, a dotted domain, nothing that would break the
/// SMTP command it goes into.
fn address(a: &str) -> bool {
    a.split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
        && a.len() <= 254
        && !a.contains(|c: char| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_address_cannot_smuggle_an_smtp_command() {
        assert!(address("ops@example.net"));
        for bad in [
            "x@y.z>\r\nRCPT TO:<a@b.c",
            "x@y",
            "@y.z",
            "a b@c.d",
            "<a@b.c>",
        ] {
            assert!(!address(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_last_verdict_and_every_step_make_the_result() {
        let r = result(
            "o365",
            vec![
                Line::Start {
                    upstream: "o365".into(),
                    how: "h:587".into(),
                },
                Line::Step {
                    ms: 4,
                    label: "TCP".into(),
                    text: "connected".into(),
                },
                Line::Failed {
                    code: "bad_credentials",
                    what: "w".into(),
                    fix: "f".into(),
                    error: "535".into(),
                },
            ],
        );
        assert_eq!(r.target, "h:587");
        assert_eq!(r.steps.len(), 1);
        assert!(!r.verdict.ok);
        assert_eq!(r.verdict.code, "bad_credentials");
        assert_eq!(r.verdict.fix.as_deref(), Some("f"));
    }
}
