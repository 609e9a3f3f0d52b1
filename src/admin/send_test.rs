//! `smarthost send-test`: connects to an upstream exactly as the relay would (same CONN and AUTH
//! modes, same TLS trust), prints every step with its timing, sends a short test message (or
//! stops before MAIL with `--no-send`), and ends with a verdict and the fix in plain words.
//! Never touches the spool; passwords are never printed.

use std::time::{Duration, Instant};

use super::send_test_report::{Line, Report, Terminal, step_line};
use super::verdict::{test_message, verdict};
use crate::catalog::text;
use crate::config::{Config, SmtpUpstream, Transport, Upstream};
use crate::diagnose::{self, Lang, Target};
use crate::upstream::client::{Conn, UpReply};
use crate::upstream::connect::Endpoint;
use crate::upstream::error::UpstreamError;
use crate::upstream::trace::Tracer;

/// A test longer than this per step is a failure worth reporting, not worth waiting for.
const MAX_STEP_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct SendTest {
    /// `None`: every SMTP and Graph upstream.
    pub upstream: Option<String>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub no_send: bool,
    pub lang: Lang,
}

#[derive(Debug, thiserror::Error)]
pub enum SendTestError {
    #[error("no upstream named {0} to test (configured: {1})")]
    NoUpstream(String, String),
    #[error("--to ADDRESS is needed to send a test message (or --no-send)")]
    NoRecipient,
}

/// Runs the test; prints as it goes. Ok(true) when every upstream tested accepted the message
/// (or, with `--no-send`, connected and logged in).
pub async fn run(config: &Config, t: &SendTest) -> Result<bool, SendTestError> {
    run_with(config, t, &Terminal).await
}

/// As [`run`], with the lines going to `report` (the console keeps them for its answer).
pub async fn run_with(
    config: &Config,
    t: &SendTest,
    report: &dyn Report,
) -> Result<bool, SendTestError> {
    if t.to.is_none() && !t.no_send {
        return Err(SendTestError::NoRecipient);
    }
    let chosen: Vec<&Upstream> = config
        .upstreams
        .iter()
        .filter(|u| !matches!(u.transport, Transport::File { .. }))
        .filter(|u| t.upstream.as_deref().is_none_or(|want| want == u.name))
        .collect();
    if chosen.is_empty() {
        let known: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
        let asked = t.upstream.clone().unwrap_or_else(|| "(any)".into());
        return Err(SendTestError::NoUpstream(asked, known.join(", ")));
    }
    let mut all_ok = true;
    for u in chosen {
        let from = sender(config, u, t);
        all_ok &= match &u.transport {
            Transport::Smtp(cfg) => one(config, &u.name, cfg, &from, t, report).await,
            Transport::Graph(cfg) => {
                let to = t.to.as_deref().filter(|_| !t.no_send);
                let test = super::send_test_graph::GraphTest {
                    from: &from,
                    to,
                    lang: t.lang,
                };
                super::send_test_graph::one(config, &u.name, cfg, &test, report).await
            }
            Transport::File { .. } => true,
        };
    }
    Ok(all_ok)
}

/// The test's sender: `--from`, the rewrite address, the login name or Graph mailbox, else
/// postmaster at our name.
fn sender(config: &Config, u: &Upstream, t: &SendTest) -> String {
    let login = match &u.transport {
        Transport::Smtp(cfg) => cfg.credentials.as_ref().map(|c| c.username.clone()),
        Transport::Graph(cfg) => cfg.mailbox.clone(),
        Transport::File { .. } => None,
    };
    t.from
        .clone()
        .or_else(|| config.policy.overridden_by(&u.policy).rewrite.from)
        .or_else(|| login.filter(|u| u.contains('@')))
        .unwrap_or_else(|| format!("postmaster@{}", config.server.hostname))
}

async fn one(
    config: &Config,
    name: &str,
    cfg: &SmtpUpstream,
    from: &str,
    t: &SendTest,
    report: &dyn Report,
) -> bool {
    let mut cfg = cfg.clone();
    cfg.timeout = cfg.timeout.min(MAX_STEP_WAIT);
    let target = Target {
        host: cfg.host.clone(),
        port: cfg.port,
        conn: cfg.conn,
        oauth: cfg.oauth2.is_some(),
    };
    let hp = format!("{}:{}", target.host, target.port);
    let how = text(
        t.lang,
        "sendtest-start-smtp",
        &[
            ("hp", &hp),
            ("conn", &cfg.conn.to_string()),
            ("auth", &cfg.auth.to_string()),
        ],
    );
    report.line(Line::Start {
        upstream: name.to_string(),
        how,
    });
    let (tracer, mut steps) = Tracer::new();
    let start = Instant::now();
    let endpoint = match Endpoint::new(name, cfg, &config.server.hostname, &config.spool.dir) {
        Ok(e) => e.traced(tracer),
        Err(e) => return verdict_err(&e, &target, t.lang, report),
    };
    // The steps are reported while the conversation runs; the channel closes when the
    // endpoint and its connection (the only senders) are dropped at the end of `work`.
    let work = async move {
        let outcome = conversation(&endpoint, from, t).await;
        (outcome, endpoint.server_certificate())
    };
    let show = async {
        while let Some((at, step)) = steps.recv().await {
            report.line(step_line(at.duration_since(start), &step, t.lang));
        }
    };
    let ((outcome, seen), ()) = tokio::join!(work, show);
    match outcome {
        Ok(Some(reply)) => {
            let text = text(
                t.lang,
                "sendtest-ok-accepted",
                &[("hp", &hp), ("reply", &reply)],
            );
            report.line(Line::Ok { text });
            true
        }
        Ok(None) => {
            let text = text(t.lang, "sendtest-ok-no-send", &[("hp", &hp)]);
            report.line(Line::Ok { text });
            true
        }
        Err(Failure::Error(e)) => {
            let ok = verdict_err(&e, &target, t.lang, report);
            pin_advice(&e, &target, seen, t.lang, report);
            ok
        }
        Err(Failure::Refused(stage, reply)) => {
            let p = diagnose::from_reply(stage, &reply);
            verdict(p, &target, t.lang, &format!("{stage}: {reply}"), report)
        }
    }
}

enum Failure {
    Error(UpstreamError),
    Refused(&'static str, UpReply),
}

/// Connects and logs in; then MAIL, RCPT, DATA one step at a time. The accepting reply, or
/// `None` with `--no-send`.
async fn conversation(
    endpoint: &Endpoint,
    from: &str,
    t: &SendTest,
) -> Result<Option<String>, Failure> {
    let mut conn = endpoint.open().await.map_err(Failure::Error)?;
    let result = transaction(&mut conn, from, t).await;
    conn.quit().await;
    result
}

async fn transaction(conn: &mut Conn, from: &str, t: &SendTest) -> Result<Option<String>, Failure> {
    let Some(to) = t.to.as_deref().filter(|_| !t.no_send) else {
        return Ok(None);
    };
    let step = |r: Result<UpReply, UpstreamError>, stage: &'static str, want: u16| match r {
        Ok(r) if r.code == want || (want == 250 && r.is_positive() && r.code < 300) => Ok(r),
        Ok(r) => Err(Failure::Refused(stage, r)),
        Err(e) => Err(Failure::Error(e)),
    };
    step(
        conn.command(&format!("MAIL FROM:<{from}>"), "MAIL").await,
        "MAIL",
        250,
    )?;
    step(
        conn.command(&format!("RCPT TO:<{to}>"), "RCPT").await,
        "RCPT",
        250,
    )?;
    step(conn.command("DATA", "DATA").await, "DATA", 354)?;
    let message = test_message(from, to);
    conn.write(&crate::upstream::dot_stuff(message.as_bytes()), "DATA")
        .await
        .map_err(Failure::Error)?;
    let end = step(conn.read_reply("end of DATA").await, "end of DATA", 250)?;
    Ok(Some(end.to_string()))
}

/// After a certificate the relay does not trust: the `tls_fingerprint` line that trusts it.
fn pin_advice(
    e: &UpstreamError,
    target: &Target,
    seen: Option<crate::config::cert::CertFacts>,
    lang: Lang,
    report: &dyn Report,
) {
    if let Some(f) = seen.filter(|_| diagnose::wants_pin(diagnose::from_error(e, target))) {
        let line = format!("tls_fingerprint = \"{}\"", f.sha256);
        let text = text(lang, "tls-pin-advice", &[("line", line.as_str())]);
        report.line(Line::Advice { text });
    }
}

fn verdict_err(e: &UpstreamError, target: &Target, lang: Lang, report: &dyn Report) -> bool {
    let p = diagnose::from_error(e, target);
    verdict(p, target, lang, &e.to_string(), report)
}
